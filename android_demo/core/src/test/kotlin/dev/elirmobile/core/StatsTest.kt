package dev.elirmobile.core

import org.junit.Assert.assertEquals
import org.junit.Assert.assertThrows
import org.junit.Test

/** The known values of tests/test_device_stats.py and native/tests/unit_tests.cpp, then benchmarks/device/stats.py's. */
class StatsTest {
    private data class Known(val xs: List<Double>, val median: Double, val p90: Double, val min: Double,
                             val max: Double, val mean: Double, val trimmed: Double)

    private val known = listOf(
        Known(listOf(7.5), 7.5, 7.5, 7.5, 7.5, 7.5, 7.5),
        Known(listOf(5.0, 1.0, 4.0, 2.0, 3.0), 3.0, 4.6, 1.0, 5.0, 3.0, 3.0),
        Known(listOf(3.0, 1.0, 2.0, 100.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0), 5.5, 18.1, 1.0, 100.0, 14.5, 5.5),
        Known((1..19).map { it.toDouble() } + 1000.0, 10.5, 18.1, 1.0, 1000.0, 59.5, 10.5),
        Known((1..49).map { it.toDouble() } + 500.0, 25.5, 45.1, 1.0, 500.0, 34.5, 25.5),
    )

    private fun check(s: Summary, k: Known) {
        assertEquals(k.xs.size, s.n)
        assertEquals(k.median, s.median, 1e-9)
        assertEquals(k.p90, s.p90, 1e-9)
        assertEquals(k.min, s.min, 0.0)
        assertEquals(k.max, s.max, 0.0)
        assertEquals(k.mean, s.mean, 1e-9)
        assertEquals(k.trimmed, s.trimmedMean1090, 1e-9)
    }

    @Test
    fun knownValues() {
        for (k in known) check(Stats.summarize(k.xs), k)
    }

    @Test
    fun matchesStatsPy() {
        val cases = Vectors.root.getJSONArray("stats")
        for (i in 0 until cases.length()) {
            val c = cases.getJSONObject(i)
            val xs = Vectors.doubles(c.getJSONArray("samples"))
            val w = c.getJSONObject("summary")
            check(Stats.summarize(xs), Known(xs, w.getDouble("median"), w.getDouble("p90"), w.getDouble("min"),
                                             w.getDouble("max"), w.getDouble("mean"), w.getDouble("trimmed_mean_10_90")))
        }
    }

    @Test
    fun rejectsBadSamples() {
        assertThrows(IllegalArgumentException::class.java) { Stats.summarize(emptyList()) }
        assertThrows(IllegalArgumentException::class.java) { Stats.summarize(listOf(1.0, -1.0)) }
        assertThrows(IllegalArgumentException::class.java) { Stats.summarize(listOf(Double.NaN)) }
    }
}
