import CoreImage
import ELIRKit
import PhotosUI
import SwiftUI
import UIKit

/// Demo: pick a photo (PhotosPicker), choose task / artifact / runtime / compute units, restore (tiled as the
/// Python reference, with its noise), compare before/after with a slider and a timing overlay, share or save the
/// result.  The photo is decoded at no more than Restorer.maxPreparedPixels; restoring runs off the main actor with
/// progress per tile and Cancel; the loaded engine is kept until the artifact, runtime or accelerator changes.
struct ContentView: View {
    @State private var cards: [ModelCard] = AppFiles.cards()
    @State private var item: PhotosPickerItem?
    @State private var photo: CGImage?
    @State private var before: CGImage?
    @State private var after: CGImage?
    @State private var resultURL: URL?
    @State private var task = ""
    @State private var artifact = ""
    @State private var runtime = "coreml"
    @State private var accelerator = "all"
    @State private var overlay = ""
    @State private var split: CGFloat = 0.5
    @State private var progress: (done: Int, total: Int)?
    @State private var job: Task<Void, Never>?
    @StateObject private var engines = EngineCache()

    private var tasks: [String] { Array(Set(cards.map(\.task))).sorted() }
    private var artifacts: [ModelCard] { cards.filter { $0.task == task } }
    private var accelerators: [String] {
        runtime == "coreml" ? ["all", "cpuAndNeuralEngine", "cpuAndGPU", "cpuOnly"] : ["xnnpack", "coreml"]
    }

    var body: some View {
        VStack(spacing: 8) {
            PhotosPicker("Pick photo", selection: $item, matching: .images)
            Picker("Task", selection: $task) { ForEach(tasks, id: \.self) { Text($0) } }
            Picker("Artifact", selection: $artifact) { ForEach(artifacts.map(\.artifact.file), id: \.self) { Text($0) } }
            Picker("Runtime", selection: $runtime) { Text("Core ML").tag("coreml"); Text("ExecuTorch").tag("executorch") }
                .pickerStyle(.segmented)
            Picker("Accelerator", selection: $accelerator) { ForEach(accelerators, id: \.self) { Text($0) } }
            HStack {
                Button("Restore") { start() }.disabled(job != nil || photo == nil)
                Button("Cancel") { job?.cancel() }.disabled(job == nil)
                if let resultURL { ShareLink("Share / Save", item: resultURL) }  // the share sheet offers Save Image
            }
            if let progress { ProgressView(value: Double(progress.done), total: Double(progress.total)) }
            comparison
        }
        .padding()
        .onAppear { task = tasks.first ?? ""; artifact = artifacts.first?.artifact.file ?? "" }
        .onChange(of: task) { _ in artifact = artifacts.first?.artifact.file ?? "" }
        .onChange(of: runtime) { _ in accelerator = accelerators[0] }
        .onChange(of: item) { newItem in
            Task {
                guard let data = try? await newItem?.loadTransferable(type: Data.self) else { return }
                do {
                    let cg = try ImageIO.decodeCapped(data)
                    photo = cg; before = cg; after = nil; resultURL = nil; overlay = ""
                } catch {
                    overlay = "Cannot read that photo: \(error)"
                }
            }
        }
    }

    private var comparison: some View {
        GeometryReader { geo in
            ZStack(alignment: .topLeading) {
                if let before { Image(decorative: before, scale: 1).resizable().scaledToFit() }
                if let after {
                    Image(decorative: after, scale: 1).resizable().scaledToFit()
                        .mask(HStack(spacing: 0) { Color.clear.frame(width: geo.size.width * split); Color.black })
                    Rectangle().fill(.white).frame(width: 2).offset(x: geo.size.width * split)
                }
                Text(overlay).font(.caption.monospaced()).foregroundColor(.white).shadow(radius: 2).padding(6)
            }
            .contentShape(Rectangle())
            .gesture(DragGesture(minimumDistance: 0).onChanged { split = min(max($0.location.x / geo.size.width, 0), 1) })
        }
    }

    @MainActor
    private func start() {
        guard let photo, let card = cards.first(where: { $0.artifact.file == artifact }) else { return }
        let (rt, acc) = (runtime, accelerator)
        UIApplication.shared.isIdleTimerDisabled = true
        job = Task {
            defer { job = nil; progress = nil; UIApplication.shared.isIdleTimerDisabled = false }
            do {
                let (engine, loadMs) = try await engines.engine(card: card, runtime: rt, accelerator: acc)
                let result = try await restore(photo, card: card, engine: engine) { done, total in
                    Task { @MainActor in progress = (done, total) }
                }
                before = result.before; after = result.after; resultURL = result.url
                overlay = String(format: "%@ %@ → %@, seed 0\n", rt, acc, engine.acceleratorUsed) +
                    (loadMs.map { String(format: "load %.0f ms (incl. first-use compile), ", $0) } ?? "") +
                    String(format: "restore %.0f ms, %d tiles", result.ms, result.tiles) +
                    (result.repeatsNoise ? "\nfixed-noise artifact: its noise repeats in every tile" : "")
            } catch is CancellationError {
                overlay = "Cancelled."
            } catch {
                overlay = "Failed: \(error)"
            }
        }
    }
}

/// What one restore produced.
struct Restored {
    let before: CGImage, after: CGImage, url: URL, ms: Double, tiles: Int, repeatsNoise: Bool
}

/// The whole restore.  A nonisolated async function, so it runs off the main actor, in the calling Task: cancelling
/// that Task stops it between tiles.
func restore(_ photo: CGImage, card: ModelCard, engine: Engine,
             onTile: @escaping (Int, Int) -> Void) async throws -> Restored {
    let prepared = try ImageIO.prepared(photo, card: card)
    let (chw, h, w) = try ImageIO.chw(from: prepared)
    let restorer = Restorer(card: card) { try engine.run($0) }
    let t0 = Date()
    let out = try restorer.restore(chw, h: h, w: w) { done, total in
        try Task.checkCancellation()
        onTile(done, total)
    }
    let ms = Date().timeIntervalSince(t0) * 1000
    let ctx = CIContext()
    let rect = CGRect(x: 0, y: 0, width: w, height: h)
    guard let before = ctx.createCGImage(CIImage(cvPixelBuffer: prepared), from: rect),
          let after = ctx.createCGImage(CIImage(cvPixelBuffer: try ImageIO.pixelBuffer(fromCHW: out, h: h, w: w)), from: rect),
          let png = UIImage(cgImage: after).pngData() else {
        throw ELIRError.runtime("cannot render the result")
    }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("elir_restored.png")
    try png.write(to: url, options: .atomic)
    return Restored(before: before, after: after, url: url, ms: ms, tiles: restorer.tiles(h: h, w: w),
                    repeatsNoise: restorer.repeatsBakedNoise(h: h, w: w))
}

/// Keeps the last loaded engine for the next restore; a different choice closes it and loads anew.
@MainActor
final class EngineCache: ObservableObject {
    private var key: String?
    private var loaded: Engine?

    /// The engine and, when it was loaded now, its load time in ms.
    func engine(card: ModelCard, runtime: String, accelerator: String) async throws -> (Engine, Double?) {
        let k = "\(card.url.path)|\(runtime)|\(accelerator)"
        if k == key, let loaded { return (loaded, nil) }
        loaded = nil
        let t0 = Date()
        let engine: Engine = runtime == "coreml"
            ? try await CoreMLEngine(card: card, computeUnits: accelerator)
            : try ExecuTorchEngine(card: card, accelerator: accelerator)
        key = k
        loaded = engine
        return (engine, Date().timeIntervalSince(t0) * 1000)
    }
}
