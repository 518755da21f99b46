import Foundation

/// The benchmark protocol, identical to elir_bench's and the Android app's: timed load, timed first run,
/// warm-up, timed runs, parity (worse of first and last output) against the card's reference vectors.  Buffers are
/// the engine's, allocated at load; each timed run is split into writing the inputs, inference and reading.
public enum BenchmarkRunner {
    public struct Config {
        public var warmup = 10
        public var runs = 50
        public var cooldownS = 0
        public init(warmup: Int = 10, runs: Int = 50, cooldownS: Int = 0) {
            self.warmup = warmup; self.runs = runs; self.cooldownS = cooldownS
        }
    }

    static func ms(_ start: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 }

    /// Waits (up to `limit` s) for ProcessInfo.thermalState to be nominal; returns the seconds waited.
    static func coolDown(_ limit: Int) async -> Double {
        let start = Date()
        while Date().timeIntervalSince(start) < Double(limit), ProcessInfo.processInfo.thermalState != .nominal {
            try? await Task.sleep(nanoseconds: 2_000_000_000)
        }
        return Date().timeIntervalSince(start)
    }

    /// `open` creates the engine; it is timed as load.
    public static func run(card: ModelCard, config: Config, open: () async throws -> Engine) async throws -> RunResult {
        guard config.runs >= 1, config.warmup >= 0 else { throw ELIRError.badInput("runs must be >= 1, warmup >= 0") }
        // The card, not the file name, says what the model is: check they are the same artifact (as elir_bench does).
        guard try card.artifactSHA256() == card.artifact.sha256 else {
            throw ELIRError.badInput("\(card.artifact.file) is not the artifact \(card.url.lastPathComponent) describes (sha256 differs)")
        }
        let (inputs, expected) = try card.referenceData()
        // Compilation is a one-off per artifact and device: done (and reported) outside load_ms.
        var compileSeconds = 0.0
        if card.artifact.format == "mlpackage" { compileSeconds = try await CoreMLEngine.precompile(card) }
        var cooled: Double? = nil
        if config.cooldownS > 0 { cooled = await coolDown(config.cooldownS) }
        let before = Platform.thermal()

        var t0 = DispatchTime.now().uptimeNanoseconds
        let engine = try await open()
        let loadMs = ms(t0)
        t0 = DispatchTime.now().uptimeNanoseconds
        let first = try engine.run(inputs)
        let firstMs = ms(t0)
        guard first.count == expected.count else {
            throw ELIRError.runtime("output has \(first.count) values, the card's output shape needs \(expected.count)")
        }
        for _ in 0..<config.warmup { _ = try engine.run(inputs) }
        // Each timed run: writing the inputs, inference alone (the samples), reading the output, timed apart.
        var samples: [Double] = [], writeMs: [Double] = [], readMs: [Double] = []
        samples.reserveCapacity(config.runs); writeMs.reserveCapacity(config.runs); readMs.reserveCapacity(config.runs)
        var last = first
        for _ in 0..<config.runs {
            let a = DispatchTime.now().uptimeNanoseconds
            try engine.write(inputs)
            let b = DispatchTime.now().uptimeNanoseconds
            try engine.invoke()
            let c = DispatchTime.now().uptimeNanoseconds
            last = try engine.read()
            let d = DispatchTime.now().uptimeNanoseconds
            writeMs.append(Double(b - a) / 1e6); samples.append(Double(c - b) / 1e6); readMs.append(Double(d - c) / 1e6)
        }
        let after = Platform.thermal()
        if let coreml = engine as? CoreMLEngine { try await coreml.computePlacement() }
        let notes = compileSeconds > 0
            ? String(format: "compiled the .mlpackage in %.1f s before timing (cached since)", compileSeconds) : ""
        return RunResult(
            runtimeName: engine.runtimeName, runtimeVersion: engine.runtimeVersion, threads: engine.threads,
            acceleratorRequested: engine.acceleratorRequested, acceleratorUsed: engine.acceleratorUsed,
            fallbackOccurred: engine.fallbackOccurred, fallbackDetail: engine.fallbackDetail,
            opPlacement: engine.opPlacement, loadMs: loadMs, firstRunMs: firstMs, warmup: config.warmup,
            samplesMs: samples, inputMs: try Stats.summarize(writeMs).median, outputMs: try Stats.summarize(readMs).median,
            peakFootprintMb: Platform.peakFootprintMb(), thermalBefore: before,
            thermalAfter: after, cooldownS: cooled,
            psnrDb: Swift.min(Parity.psnrDb(first, expected), Parity.psnrDb(last, expected)),
            maxAbsErr: Swift.max(Parity.maxAbsErr(first, expected), Parity.maxAbsErr(last, expected)),
            gateDb: card.parity.gateDb, notes: notes)
    }
}
