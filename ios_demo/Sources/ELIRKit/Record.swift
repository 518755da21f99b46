import Foundation

public let harnessName = "ios_demo"
public let harnessVersion = "0.1.0"

public struct DeviceDescription {
    public let maker: String, model: String, soc: String, os: String, osVersion: String
    public let abi: String?
    public init(maker: String, model: String, soc: String, os: String, osVersion: String, abi: String?) {
        self.maker = maker; self.model = model; self.soc = soc; self.os = os; self.osVersion = osVersion; self.abi = abi
    }
}

/// ProcessInfo.ThermalState name; iOS has no headroom forecast or temperatures.
public struct ThermalReading {
    public let state: String
    public init(state: String) { self.state = state }
}

/// Everything a benchmark run measured; `BenchmarkRecord.json` turns it into a schema record.
public struct RunResult {
    public var runtimeName: String  // coreml | executorch
    public var runtimeVersion: String
    public var threads: Int?
    public var acceleratorRequested: String
    public var acceleratorUsed: String
    public var fallbackOccurred: Bool?
    public var fallbackDetail: String
    public var opPlacement: [String: Int]?
    public var loadMs: Double
    public var firstRunMs: Double
    public var warmup: Int
    /// Inference only; writing the inputs and reading the output are `inputMs` / `outputMs` (medians).
    public var samplesMs: [Double]
    public var inputMs: Double?
    public var outputMs: Double?
    public var peakFootprintMb: Double?
    public var thermalBefore: ThermalReading?
    public var thermalAfter: ThermalReading?
    public var cooldownS: Double?
    public var psnrDb: Double
    public var maxAbsErr: Double
    public var gateDb: Double
    public var notes: String = ""
}

/// A benchmarks/device/result.schema.json record, built as a dictionary (NSNull for the schema's nulls) the way
/// the Android app builds its org.json record.
public enum BenchmarkRecord {
    static func orNull(_ v: Any?) -> Any { v ?? NSNull() }

    static func thermal(_ t: ThermalReading?) -> Any {
        guard let t else { return NSNull() }
        return ["state": t.state, "headroom": NSNull(), "temp_c": NSNull()] as [String: Any]
    }

    public static func dictionary(card: ModelCard, device: DeviceDescription, run: RunResult,
                                  timestamp: String = utcNow()) throws -> [String: Any] {
        let s = try Stats.summarize(run.samplesMs)
        var record: [String: Any] = [
            "schema_version": 1,
            "harness": ["name": harnessName, "version": harnessVersion],
            "timestamp": timestamp,
            "artifact": [
                "file": card.artifact.file, "sha256": card.artifact.sha256, "task": card.task,
                "precision": card.artifact.precision, "backend": card.artifact.backend,
                "format": card.artifact.format, "compression": orNull(card.artifact.compression),
                "size_bytes": card.artifact.sizeBytes, "image_size": card.imageSize, "K": card.K,
                "noise_mode": card.noiseMode, "card": card.url.lastPathComponent,
            ] as [String: Any],
            "device": [
                "maker": device.maker, "model": device.model, "soc": device.soc, "os": device.os,
                "os_version": device.osVersion, "abi": orNull(device.abi),
            ] as [String: Any],
            "runtime": ["name": run.runtimeName, "version": run.runtimeVersion, "threads": orNull(run.threads)] as [String: Any],
            "accelerator": [
                "requested": run.acceleratorRequested, "used": run.acceleratorUsed,
                "fallback": ["occurred": orNull(run.fallbackOccurred), "detail": run.fallbackDetail,
                             "delegated_mac_share": orNull(card.placementShare(runtime: run.runtimeName))] as [String: Any],
                "op_placement": orNull(run.opPlacement),
            ] as [String: Any],
            "timing": [
                "load_ms": run.loadMs, "first_run_ms": run.firstRunMs, "warmup": run.warmup,
                "warm": [
                    "n": s.n, "median": s.median, "p90": s.p90, "min": s.min, "max": s.max, "mean": s.mean,
                    "trimmed_mean_10_90": s.trimmedMean1090,
                ] as [String: Any],
                "samples_ms": run.samplesMs, "input_ms": orNull(run.inputMs), "output_ms": orNull(run.outputMs),
            ] as [String: Any],
            "memory": ["peak_mb": orNull(run.peakFootprintMb), "metric": "phys_footprint"] as [String: Any],
            "thermal": ["before": thermal(run.thermalBefore), "after": thermal(run.thermalAfter),
                        "cooldown_s": orNull(run.cooldownS)] as [String: Any],
            "parity": ["psnr_db": run.psnrDb, "max_abs_err": run.maxAbsErr, "gate_db": run.gateDb,
                       "passed": run.psnrDb >= run.gateDb] as [String: Any],
        ]
        if !run.notes.isEmpty { record["notes"] = run.notes }
        return record
    }

    public static func json(card: ModelCard, device: DeviceDescription, run: RunResult,
                            timestamp: String = utcNow()) throws -> Data {
        try JSONSerialization.data(withJSONObject: dictionary(card: card, device: device, run: run, timestamp: timestamp),
                                   options: [.prettyPrinted, .sortedKeys])
    }

    /// The one summary line per run (Console / xcodebuild log).
    public static func summaryLine(card: ModelCard, run: RunResult) throws -> String {
        let s = try Stats.summarize(run.samplesMs)
        return String(format: "ELIR_BENCH %@ %@ %@->%@ load=%.1fms first=%.2fms median=%.2fms p90=%.2fms min=%.2fms trimmed=%.2fms footprint=%@ psnr=%.1fdB gate=%.1f %@",
                      card.artifact.file, run.runtimeName, run.acceleratorRequested, run.acceleratorUsed, run.loadMs,
                      run.firstRunMs, s.median, s.p90, s.min, s.trimmedMean1090,
                      run.peakFootprintMb.map { String(format: "%.0fMB", $0) } ?? "-", run.psnrDb, run.gateDb,
                      run.psnrDb >= run.gateDb ? "PASS" : "FAIL")
    }

    public static func utcNow() -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date())
    }
}
