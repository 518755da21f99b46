import CoreImage
import ELIRKit
import PhotosUI
import SwiftUI
import UIKit

/// Demo: pick a photo (PhotosPicker), choose task / artifact / runtime / compute units, restore (tiled as the
/// Python reference, with its noise), compare before/after with a slider and a timing overlay, share or save the
/// result.  The photo is decoded at no more than Restorer.maxPreparedPixels; restoring runs off the main actor with
/// progress per tile and Cancel; the loaded engine is kept until the artifact, runtime or accelerator changes.
/// For the face tasks the photo is restored whole, as `python -m elir_mobile restore` does: Vision finds the faces
/// (FaceFinder), ELIRKit aligns each to the FFHQ template, the model restores it and ELIRKit pastes it back under
/// the feathered mask (FacePhoto).  "Aligned crop" restores the photo as it is (`--aligned`); bsr always does.
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
    @State private var alignedCrop = false
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
            Toggle("Aligned crop (restore the photo as it is)", isOn: $alignedCrop)
                .disabled(!FacePhoto.faceTasks.contains(task))  // bsr has no face step
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
        let wholePhoto = !alignedCrop && FacePhoto.faceTasks.contains(card.task)
        UIApplication.shared.isIdleTimerDisabled = true
        job = Task {
            defer { job = nil; progress = nil; UIApplication.shared.isIdleTimerDisabled = false }
            do {
                // Faces first: a photo without one fails before any model loads.
                var found: (faces: [Face], ms: Double)?
                if wholePhoto {
                    overlay = "Finding faces…"
                    found = try await findFaces(photo)
                }
                let (engine, loadMs) = try await engines.engine(card: card, runtime: rt, accelerator: acc)
                let report: (Int, Int) -> Void = { done, total in Task { @MainActor in progress = (done, total) } }
                let result: Restored
                if let found {
                    result = try await restoreFaces(photo, faces: found.faces, findMs: found.ms, card: card,
                                                    engine: engine, onFace: report)
                } else {
                    result = try await restore(photo, card: card, engine: engine, onTile: report)
                }
                before = result.before; after = result.after; resultURL = result.url
                overlay = String(format: "%@ %@ → %@, seed 0\n", rt, acc, engine.acceleratorUsed) +
                    (loadMs.map { String(format: "load %.0f ms (incl. first-use compile), ", $0) } ?? "") +
                    result.summary
            } catch is CancellationError {
                overlay = "Cancelled."
            } catch let error as NoFaceFound {
                overlay = error.description
            } catch {
                overlay = "Failed: \(error)"
            }
        }
    }
}

/// What one restore produced: the images, the PNG to share, and the overlay's lines about this run.
struct Restored {
    let before: CGImage, after: CGImage, url: URL, summary: String
}

/// The photo as it is (an aligned face crop, or any photo for bsr): prepared for the task, restored in tiles.  A
/// nonisolated async function, so it runs off the main actor, in the calling Task: cancelling that Task stops it
/// between tiles.
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
    guard let before = CIContext().createCGImage(CIImage(cvPixelBuffer: prepared),
                                                 from: CGRect(x: 0, y: 0, width: w, height: h)) else {
        throw ELIRError.runtime("cannot render the prepared photo")
    }
    let (after, url) = try rendered(out, h: h, w: w)
    let summary = String(format: "restore %.0f ms, %d tiles", ms, restorer.tiles(h: h, w: w)) +
        (restorer.repeatsBakedNoise(h: h, w: w) ? "\nfixed-noise artifact: its noise repeats in every tile" : "")
    return Restored(before: before, after: after, url: url, summary: summary)
}

/// Vision's faces in the photo that the pipeline keeps (at least FacePhoto.minFace px wide, largest first), and
/// how long finding them took.  Nonisolated async: Vision runs off the main actor.
func findFaces(_ photo: CGImage) async throws -> (faces: [Face], ms: Double) {
    let t0 = Date()
    let faces = try FacePhoto.select(FaceFinder.faces(in: photo))
    return (faces, Date().timeIntervalSince(t0) * 1000)
}

/// The whole photo, as `python -m elir_mobile restore` (elir_mobile/faces/pipeline.py): every face aligned to the
/// task's crop (sr: 32 px), restored (prepared as the task expects, seed 0), pasted back under the feathered mask;
/// the photo keeps its size.  Off the main actor like `restore`; cancelling the Task stops it between faces and
/// tiles.
func restoreFaces(_ photo: CGImage, faces: [Face], findMs: Double, card: ModelCard, engine: Engine,
                  onFace: @escaping (Int, Int) -> Void) async throws -> Restored {
    let pixels = try ImageIO.pixelBuffer(from: photo, width: photo.width, height: photo.height)
    let (chw, h, w) = try ImageIO.chw(from: pixels)
    let prepare = ImageIO.prepare[card.task] ?? "tile"
    let cropSize = FaceAlign.inputSize(prepare: prepare, imageSize: card.imageSize)
    let restorer = Restorer(card: card) { try engine.run($0) }
    var done = 0
    let planar = Planar(c: 3, h: h, w: w, data: chw)
    let result = try FacePhoto.restore(planar, faces: faces, cropSize: cropSize) { crop in
        try Task.checkCancellation()
        let input = try FacePhoto.prepare(crop, prepare: prepare, imageSize: card.imageSize)
        let out = try restorer.restore(input.data, h: input.h, w: input.w) { _, _ in try Task.checkCancellation() }
        done += 1
        onFace(done, faces.count)
        return Planar(c: 3, h: input.h, w: input.w, data: out)
    }
    let (after, url) = try rendered(result.image.data, h: h, w: w)
    let widths = faces.map { String(format: "%.0f", $0.width) }.joined(separator: ", ")
    let ms = result.ms
    let summary = "\(faces.count) face(s) (\(widths) px wide), \(cropSize) px crops\n" +
        String(format: "find %.0f ms, align %.0f ms, restore %.0f ms, paste %.0f ms", findMs, ms["align"] ?? 0,
               ms["restore"] ?? 0, ms["paste"] ?? 0)
    return Restored(before: photo, after: after, url: url, summary: summary)
}

/// A restored planar image as a CGImage, and as the PNG the share sheet sends.
func rendered(_ chw: [Float], h: Int, w: Int) throws -> (CGImage, URL) {
    let buffer = try ImageIO.pixelBuffer(fromCHW: chw, h: h, w: w)
    let rect = CGRect(x: 0, y: 0, width: w, height: h)
    guard let image = CIContext().createCGImage(CIImage(cvPixelBuffer: buffer), from: rect),
          let png = UIImage(cgImage: image).pngData() else {
        throw ELIRError.runtime("cannot render the result")
    }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("elir_restored.png")
    try png.write(to: url, options: .atomic)
    return (image, url)
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
