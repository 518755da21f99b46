import ELIRKit
import SwiftUI
import UIKit

/// Headless benchmark mode, from launch arguments (xcrun devicectl device process launch ... -- <args>):
///
///   --benchmark --model elir_bfr_coreml_fp16.mlpackage [--card elir_bfr_fp16.json] --runtime coreml|executorch
///   --accelerator all|cpuAndNeuralEngine|cpuAndGPU|cpuOnly|xnnpack|coreml [--warmup 10] [--runs 50]
///   [--cooldown 60] [--out result.json]
///
/// Names resolve in Documents/models.  The record goes to Documents/results/<out> (written atomically), one
/// ELIR_BENCH line to the console; errors to <out>.error.  The app exits when done so scripts can wait on it.
final class BenchmarkMode: ObservableObject {
    struct Request {
        var model: String
        var card: String?
        var runtime = "coreml"
        var accelerator = "all"
        var warmup = 10
        var runs = 50
        var cooldown = 0
        var out: String?
    }

    @Published var request: Request?

    static func fromLaunchArguments(_ args: [String] = CommandLine.arguments) -> BenchmarkMode {
        let mode = BenchmarkMode()
        guard args.contains("--benchmark") else { return mode }
        func value(_ flag: String) -> String? {
            guard let i = args.firstIndex(of: flag), i + 1 < args.count else { return nil }
            return args[i + 1]
        }
        var r = Request(model: value("--model") ?? "")
        r.card = value("--card")
        r.runtime = value("--runtime") ?? r.runtime
        r.accelerator = value("--accelerator") ?? r.accelerator
        r.warmup = value("--warmup").flatMap(Int.init) ?? r.warmup
        r.runs = value("--runs").flatMap(Int.init) ?? r.runs
        r.cooldown = value("--cooldown").flatMap(Int.init) ?? r.cooldown
        r.out = value("--out")
        mode.request = r
        return mode
    }

    /// Runs the request; returns the summary line (or the error line).
    static func run(_ r: Request) async -> String {
        let fm = FileManager.default
        try? fm.createDirectory(at: AppFiles.results, withIntermediateDirectories: true)
        let stem = (r.model as NSString).deletingPathExtension
        let out = AppFiles.results.appendingPathComponent(r.out ?? "\(stem).\(r.runtime).\(r.accelerator).json")
        do {
            guard !r.model.isEmpty else { throw ELIRError.badInput("missing --model") }
            let card = try ModelCard.load(AppFiles.models.appendingPathComponent(r.card ?? "\(stem).json"))
            guard card.artifact.file == r.model else {
                throw ELIRError.badInput("card \(card.url.lastPathComponent) describes \(card.artifact.file), not \(r.model)")
            }
            let config = BenchmarkRunner.Config(warmup: r.warmup, runs: r.runs, cooldownS: r.cooldown)
            let run = try await BenchmarkRunner.run(card: card, config: config) {
                switch r.runtime {
                case "coreml": return try await CoreMLEngine(card: card, computeUnits: r.accelerator)
                case "executorch": return try ExecuTorchEngine(card: card, accelerator: r.accelerator)
                default: throw ELIRError.badInput("unknown runtime \(r.runtime) (coreml | executorch)")
                }
            }
            let data = try BenchmarkRecord.json(card: card, device: Platform.device(), run: run)
            // Atomic: write beside, then move in (replaceItemAt needs an existing item, so a first record is moved).
            let tmp = out.appendingPathExtension("tmp")
            try data.write(to: tmp)
            if fm.fileExists(atPath: out.path) { _ = try fm.replaceItemAt(out, withItemAt: tmp) }
            else { try fm.moveItem(at: tmp, to: out) }
            let line = try BenchmarkRecord.summaryLine(card: card, run: run)
            print(line)
            return line
        } catch {
            let line = "ELIR_BENCH_ERROR \(error)"
            print(line)
            try? (line + "\n").write(to: out.appendingPathExtension("error"), atomically: true, encoding: .utf8)
            return line
        }
    }
}

/// One benchmark per launch: it starts once even if SwiftUI re-runs the view's task, keeps the screen awake
/// (no auto-lock dimming or suspending the app mid-run), and exits when done.
struct BenchmarkView: View {
    let request: BenchmarkMode.Request
    @State private var status = "ELIR benchmark running…"
    @MainActor private static var started = false

    var body: some View {
        Text(status).padding().task {
            guard !Self.started else { return }
            Self.started = true
            UIApplication.shared.isIdleTimerDisabled = true
            status = await BenchmarkMode.run(request)
            UIApplication.shared.isIdleTimerDisabled = false
            try? await Task.sleep(nanoseconds: 500_000_000)
            exit(0)  // headless mode: the script waits for the process to end
        }
    }
}
