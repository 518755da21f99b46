import Foundation

/// Parity against the export pipeline's reference vectors: a mirror of benchmarks/device/parity.py.
public enum Parity {
    public static let psnrCapDb = 200.0

    /// PSNR (dB, data range 1) of both arrays clamped to [0, 1]; capped at `psnrCapDb` for identical ones.
    public static func psnrDb(_ output: [Float], _ expected: [Float]) -> Double {
        precondition(output.count == expected.count, "output has \(output.count) values, the reference \(expected.count)")
        var sum = 0.0
        for i in 0..<output.count {
            let a = Swift.min(Swift.max(Double(output[i]), 0), 1)
            let b = Swift.min(Swift.max(Double(expected[i]), 0), 1)
            sum += (a - b) * (a - b)
        }
        let mse = sum / Double(output.count)
        if mse <= pow(10, -psnrCapDb / 10) { return psnrCapDb }
        return Swift.min(psnrCapDb, -10 * log10(mse))
    }

    /// Largest |output - expected| on the raw, unclamped values.
    public static func maxAbsErr(_ output: [Float], _ expected: [Float]) -> Double {
        precondition(output.count == expected.count)
        var m = 0.0
        for i in 0..<output.count { m = Swift.max(m, abs(Double(output[i]) - Double(expected[i]))) }
        return m
    }

    /// Raw little-endian float32 holding exactly `count` values.
    public static func readF32LE(_ url: URL, count: Int) throws -> [Float] {
        let data = try Data(contentsOf: url)
        guard data.count == count * 4 else {
            throw ELIRError.badInput("\(url.lastPathComponent): \(data.count / 4) float32 values, the card's shape needs \(count)")
        }
        return data.withUnsafeBytes { raw in
            (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }
}

public enum ELIRError: Error, CustomStringConvertible {
    case badInput(String)
    case runtime(String)

    public var description: String {
        switch self {
        case .badInput(let s), .runtime(let s): return s
        }
    }
}
