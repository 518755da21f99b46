import CoreImage
import ELIRKit
import PhotosUI
import SwiftUI

/// Demo: pick a photo (PhotosPicker), choose task / artifact / runtime / compute units, restore (tiled as the
/// Python reference), compare before/after with a slider and a timing overlay.
struct ContentView: View {
    @State private var cards: [ModelCard] = AppFiles.cards()
    @State private var item: PhotosPickerItem?
    @State private var photo: CGImage?
    @State private var before: CGImage?
    @State private var after: CGImage?
    @State private var task = ""
    @State private var artifact = ""
    @State private var runtime = "coreml"
    @State private var accelerator = "all"
    @State private var overlay = ""
    @State private var split: CGFloat = 0.5
    @State private var busy = false

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
            Button(busy ? "Restoring…" : "Restore") { Task { await restore() } }.disabled(busy || photo == nil)
            comparison
        }
        .padding()
        .onAppear { task = tasks.first ?? ""; artifact = artifacts.first?.artifact.file ?? "" }
        .onChange(of: task) { _ in artifact = artifacts.first?.artifact.file ?? "" }
        .onChange(of: runtime) { _ in accelerator = accelerators[0] }
        .onChange(of: item) { newItem in
            Task {
                guard let data = try? await newItem?.loadTransferable(type: Data.self),
                      let ci = CIImage(data: data, options: [.applyOrientationProperty: true]),
                      let cg = CIContext().createCGImage(ci, from: ci.extent) else { return }
                photo = cg; before = cg; after = nil; overlay = ""
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
    private func restore() async {
        guard let photo, let card = cards.first(where: { $0.artifact.file == artifact }) else { return }
        busy = true
        defer { busy = false }
        do {
            let t0 = Date()
            let engine: Engine = runtime == "coreml"
                ? try await CoreMLEngine(card: card, computeUnits: accelerator)
                : try ExecuTorchEngine(card: card, accelerator: accelerator)
            let loadMs = Date().timeIntervalSince(t0) * 1000
            let prepared = try ImageIO.prepared(photo, card: card)
            let (chw, h, w) = try ImageIO.chw(from: prepared)
            var calls = 0
            let t1 = Date()
            let restored = try Restorer(card: card, engine: CountingEngine(engine) { calls += 1 }).restore(chw, h: h, w: w)
            let runMs = Date().timeIntervalSince(t1) * 1000
            let ctx = CIContext()
            before = ctx.createCGImage(CIImage(cvPixelBuffer: prepared), from: CGRect(x: 0, y: 0, width: w, height: h))
            let out = try ImageIO.pixelBuffer(fromCHW: restored, h: h, w: w)
            after = ctx.createCGImage(CIImage(cvPixelBuffer: out), from: CGRect(x: 0, y: 0, width: w, height: h))
            overlay = String(format: "%@ %@ → %@\nload %.0f ms (incl. first-use compile), restore %.0f ms, %d tiles",
                             runtime, accelerator, engine.acceleratorUsed, loadMs, runMs, calls)
        } catch {
            overlay = "Failed: \(error)"
        }
    }
}

/// Counts tile calls for the overlay.
final class CountingEngine: Engine {
    let inner: Engine
    let onRun: () -> Void
    init(_ inner: Engine, onRun: @escaping () -> Void) { self.inner = inner; self.onRun = onRun }
    var runtimeName: String { inner.runtimeName }
    var runtimeVersion: String { inner.runtimeVersion }
    var threads: Int? { inner.threads }
    var acceleratorRequested: String { inner.acceleratorRequested }
    var acceleratorUsed: String { inner.acceleratorUsed }
    var fallbackOccurred: Bool? { inner.fallbackOccurred }
    var fallbackDetail: String { inner.fallbackDetail }
    var opPlacement: [String: Int]? { inner.opPlacement }
    func run(_ inputs: [[Float]]) throws -> [Float] { onRun(); return try inner.run(inputs) }
}
