import ELIRKit
import ExecuTorch
import Foundation

/// ExecuTorch through its SwiftPM package (branch swiftpm-<version>; products executorch, backend_xnnpack,
/// backend_coreml, kernels_optimized, linked with -all_load so the backends register).  The delegate is fixed at
/// export time (card backend); `load("forward")` here makes method init part of load, not of the first run.
final class ExecuTorchEngine: Engine {
    let runtimeName = "executorch"
    let runtimeVersion = Bundle.main.object(forInfoDictionaryKey: "ELIRExecuTorchVersion") as? String ?? "unknown"
    let threads: Int? = nil
    let acceleratorRequested: String
    let acceleratorUsed: String
    let fallbackOccurred: Bool? = nil
    let fallbackDetail = "ExecuTorch has no silent fallback (a delegate that cannot initialise fails load); " +
        "ops outside the delegate run on the CPU kernels"
    let opPlacement: [String: Int]? = nil
    private let module: Module
    private let card: ModelCard

    init(card: ModelCard, accelerator: String) throws {
        guard card.artifact.format == "pte" else {
            throw ELIRError.badInput("\(card.artifact.file) is a .\(card.artifact.format); ExecuTorch runs .pte")
        }
        guard accelerator == card.artifact.backend else {
            throw ELIRError.badInput("\(card.artifact.file) was exported for \(card.artifact.backend), not \(accelerator)")
        }
        self.card = card
        acceleratorRequested = accelerator
        acceleratorUsed = accelerator
        module = Module(filePath: card.artifactURL.path)
        try module.load("forward")
    }

    func run(_ inputs: [[Float]]) throws -> [Float] {
        let tensors = zip(card.inputs, inputs).map { spec, data in Tensor<Float>(data, shape: spec.shape) }
        let outputs = try module.forward(tensors)
        guard let first = outputs.first, let tensor: Tensor<Float> = first.tensor() else {
            throw ELIRError.runtime("forward returned no float tensor")
        }
        return tensor.scalars()
    }
}
