package dev.elirmobile.core

import kotlin.math.floor
import kotlin.math.min

/** Warm-run statistics: a line-for-line mirror of benchmarks/device/stats.py (read its docstring). */
data class Summary(
    val n: Int,
    val median: Double,
    val p90: Double,
    val min: Double,
    val max: Double,
    val mean: Double,
    val trimmedMean1090: Double,
)

object Stats {
    /** q in [0, 100]; `sorted` ascending and non-empty. Linear interpolation between closest ranks. */
    fun percentile(sorted: DoubleArray, q: Double): Double {
        val n = sorted.size
        val h = (n - 1) * q / 100.0
        val lo = floor(h).toInt()
        val hi = min(lo + 1, n - 1)
        return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo])
    }

    fun summarize(samplesMs: List<Double>): Summary {
        require(samplesMs.isNotEmpty()) { "no timed runs to summarize (runs must be >= 1)" }
        require(samplesMs.all { it.isFinite() && it >= 0.0 }) { "timings must be finite and non-negative" }
        val xs = samplesMs.sorted().toDoubleArray()
        val n = xs.size
        val median = if (n % 2 == 1) xs[n / 2] else 0.5 * (xs[n / 2 - 1] + xs[n / 2])
        val k = n / 10 // drop n / 10 (integer division) from each end, as stats.py
        var kept = 0.0
        for (i in k until n - k) kept += xs[i]
        return Summary(
            n = n,
            median = median,
            p90 = percentile(xs, 90.0),
            min = xs.first(),
            max = xs.last(),
            mean = xs.sum() / n,
            trimmedMean1090 = kept / (n - 2 * k),
        )
    }
}
