import Foundation

/// Warm-run statistics: a line-for-line mirror of benchmarks/device/stats.py (read its docstring).
public struct Summary: Codable, Equatable {
    public let n: Int
    public let median: Double
    public let p90: Double
    public let min: Double
    public let max: Double
    public let mean: Double
    public let trimmedMean1090: Double

    enum CodingKeys: String, CodingKey {
        case n, median, p90, min, max, mean
        case trimmedMean1090 = "trimmed_mean_10_90"
    }
}

public enum StatsError: Error, Equatable {
    case empty, invalidSample
}

public enum Stats {
    /// q in [0, 100]; `sorted` ascending and non-empty. Linear interpolation between closest ranks.
    public static func percentile(_ sorted: [Double], _ q: Double) -> Double {
        let n = sorted.count
        let h = Double(n - 1) * q / 100.0
        let lo = Int(h.rounded(.down))
        let hi = Swift.min(lo + 1, n - 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }

    public static func summarize(_ samplesMs: [Double]) throws -> Summary {
        guard !samplesMs.isEmpty else { throw StatsError.empty }
        guard samplesMs.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw StatsError.invalidSample }
        let xs = samplesMs.sorted()
        let n = xs.count
        let median = n % 2 == 1 ? xs[n / 2] : 0.5 * (xs[n / 2 - 1] + xs[n / 2])
        let k = n / 10  // drop n / 10 (integer division) from each end, as stats.py
        let kept = xs[k..<(n - k)]
        return Summary(
            n: n, median: median, p90: percentile(xs, 90.0), min: xs[0], max: xs[n - 1],
            mean: xs.reduce(0, +) / Double(n), trimmedMean1090: kept.reduce(0, +) / Double(kept.count))
    }
}
