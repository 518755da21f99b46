import ELIRKit
import ExecuTorch
import Foundation

/// ExecuTorch through its SwiftPM package (branch swiftpm-<version>; products executorch, backend_xnnpack,
/// backend_coreml, kernels_optimized, linked with -all_load so the backends register).  The delegate is fixed at
/// export time (card backend); `load("forward")` here makes method init part of load, not of the first run.
/// `write` builds the input tensors (copying), `invoke` is `forward` alone, `read` copies the output out.
final class ExecuTorchEngine: Engine {
    let runtimeName = "executorch"
    let runtimeVersion = Bundle.main.object(forInfoDictionaryKey: "ELIRExecuTorchVersion") as? String ?? "unknown"
    let threads: Int? = nil
    let acceleratorRequested: String
    let acceleratorUsed: String
    let fallbackOccurred: Bool?
    let fallbackDetail: String
    let opPlacement: [String: Int]? = nil
    private let module: Module
    private let card: ModelCard
    private var inputs: [Tensor<Float>] = []
    private var output: Tensor<Float>?

    init(card: ModelCard, accelerator: String) throws {
        guard card.artifact.format == "pte" else {
            throw ELIRError.badInput("\(card.artifact.file) is a .\(card.artifact.format); ExecuTorch runs .pte")
        }
        guard accelerator == card.artifact.backend else {
            throw ELIRError.badInput("\(card.artifact.file) was exported for \(card.artifact.backend), not \(accelerator)")
        }
        guard (card.inputs + card.outputs).allSatisfy({ $0.dtype == "float32" }) else {
            throw ELIRError.badInput("\(card.artifact.file): the app feeds ExecuTorch float32 tensors only")
        }
        self.card = card
        acceleratorRequested = accelerator
        module = Module(filePath: card.artifactURL.path)
        try module.load("forward")
        // The delegates the loaded method uses (no silent fallback: a delegate that cannot initialise fails load).
        let backends = try module.methodMetadata("forward").backendNames
        acceleratorUsed = backends.isEmpty ? "cpu" : backends.map { $0.replacingOccurrences(of: "Backend", with: "").lowercased() }
            .joined(separator: "+")
        fallbackOccurred = card.placementShare(runtime: "executorch").map { $0 < 1 }
        fallbackDetail = "delegates in method: \(backends.isEmpty ? "none" : backends.joined(separator: ", ")); " +
            "ops outside the delegate run on the CPU kernels"
    }

    func write(_ data: [[Float]]) throws {
        guard data.count == card.inputs.count else {
            throw ELIRError.badInput("the artifact takes \(card.inputs.count) inputs, got \(data.count)")
        }
        inputs = zip(card.inputs, data).map { spec, values in Tensor<Float>(values, shape: spec.shape) }
    }

    func invoke() throws {
        let outputs = try module.forward(inputs)
        guard let first = outputs.first, let tensor: Tensor<Float> = first.tensor() else {
            throw ELIRError.runtime("forward returned no float tensor")
        }
        output = tensor
    }

    func read() throws -> [Float] {
        guard let output else { throw ELIRError.runtime("read before invoke") }
        return output.scalars()
    }
}
