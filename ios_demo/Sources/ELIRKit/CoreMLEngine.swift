import CoreML
import Foundation

/// Core ML with a chosen `computeUnits`.  The .mlpackage is compiled once and the .mlmodelc cached under
/// Application Support (keyed by the card's sha256), so later loads time only `MLModel(contentsOf:)`.
public final class CoreMLEngine: Engine {
    public static let computeUnitNames: [String: MLComputeUnits] = [
        "all": .all, "cpuAndNeuralEngine": .cpuAndNeuralEngine, "cpuAndGPU": .cpuAndGPU, "cpuOnly": .cpuOnly,
    ]

    public let runtimeName = "coreml"
    public let runtimeVersion: String
    public let threads: Int? = nil
    public let acceleratorRequested: String
    public private(set) var acceleratorUsed: String
    public private(set) var fallbackOccurred: Bool? = nil
    public private(set) var fallbackDetail = "MLComputePlan needs iOS 17.4+: per-op placement unknown"
    public private(set) var opPlacement: [String: Int]? = nil

    private let model: MLModel
    private let card: ModelCard
    private let compiledURL: URL
    private let configuration: MLModelConfiguration
    private var inputArrays: [String: MLMultiArray] = [:]
    private var provider: MLFeatureProvider?
    private var output: MLFeatureProvider?

    /// Compiles the .mlpackage once and caches the .mlmodelc; returns the compile seconds (0 when cached).
    /// Call before timing a load, so load_ms never includes compilation.
    @discardableResult
    public static func precompile(_ card: ModelCard) async throws -> Double {
        try await compiledModel(for: card).1
    }

    /// Loads the (cached, else freshly compiled) model with `computeUnits`.
    public init(card: ModelCard, computeUnits: String) async throws {
        guard card.artifact.format == "mlpackage" else {
            throw ELIRError.badInput("\(card.artifact.file) is a .\(card.artifact.format); Core ML runs .mlpackage")
        }
        guard let units = Self.computeUnitNames[computeUnits] else {
            throw ELIRError.badInput("compute units must be one of \(Self.computeUnitNames.keys.sorted()), not \(computeUnits)")
        }
        self.card = card
        acceleratorRequested = computeUnits
        acceleratorUsed = computeUnits
        let os = ProcessInfo.processInfo.operatingSystemVersion
        runtimeVersion = "Core ML (OS \(os.majorVersion).\(os.minorVersion).\(os.patchVersion))"
        compiledURL = try await Self.compiledModel(for: card).0
        configuration = MLModelConfiguration()
        configuration.computeUnits = units
        model = try MLModel(contentsOf: compiledURL, configuration: configuration)
        let described = model.modelDescription.inputDescriptionsByName
        for spec in card.inputs where described[spec.name]?.type != .image {
            guard spec.dtype == "float32" else {
                throw ELIRError.badInput("\(spec.name) is \(spec.dtype); the app feeds Core ML float32 tensors")
            }
            inputArrays[spec.name] = try MLMultiArray(shape: spec.shape.map { NSNumber(value: $0) }, dataType: .float32)
        }
    }

    /// Fills op_placement / accelerator used / fallback from MLComputePlan (iOS 17.4+); outside the timed path.
    public func computePlacement() async throws {
        guard #available(iOS 17.4, macOS 14.4, *) else { return }
        let counts = try await ComputePlanReport.deviceCounts(compiledModel: compiledURL, configuration: configuration)
        opPlacement = counts
        let devices = counts.filter { $0.value > 0 }.keys.sorted()
        acceleratorUsed = devices.isEmpty ? "unknown" : devices.joined(separator: "+")
        let allowed: [String: Set<String>] = ["all": ["cpu", "gpu", "neural_engine"], "cpuAndNeuralEngine": ["cpu", "neural_engine"],
                                               "cpuAndGPU": ["cpu", "gpu"], "cpuOnly": ["cpu"]]
        // Core ML always keeps some ops on the CPU; "fallback" = an accelerator was allowed but got no op.
        let accels = (allowed[acceleratorRequested] ?? []).subtracting(["cpu"])
        fallbackOccurred = accels.isEmpty ? false : accels.isDisjoint(with: Set(devices))
        fallbackDetail = "MLComputePlan preferred device per op: " +
            counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
    }

    static func cacheDirectory() throws -> URL {
        let base = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                               appropriateFor: nil, create: true)
        let dir = base.appendingPathComponent("CompiledModels", isDirectory: true)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The cached .mlmodelc for this artifact, compiling (and caching) it on first use.
    static func compiledModel(for card: ModelCard) async throws -> (URL, Double) {
        let cached = try cacheDirectory().appendingPathComponent("\(card.artifact.sha256).mlmodelc", isDirectory: true)
        if FileManager.default.fileExists(atPath: cached.path) { return (cached, 0) }
        let start = Date()
        let temp = try await MLModel.compileModel(at: card.artifactURL)
        let seconds = Date().timeIntervalSince(start)
        try? FileManager.default.removeItem(at: cached)
        try FileManager.default.moveItem(at: temp, to: cached)
        return (cached, seconds)
    }

    /// Inputs/outputs are float tensors (the exporter's default `--io tensor`) or, for `--io image` packages,
    /// RGB images: then the [0, 1] planar data travels as a 32BGRA CVPixelBuffer (8-bit, so parity is limited
    /// to what 8 bits carry) and the image output is read back the same way.  Tensor inputs are copied into
    /// MLMultiArrays allocated once, at load.
    public func write(_ inputs: [[Float]]) throws {
        guard inputs.count == card.inputs.count else {
            throw ELIRError.badInput("the artifact takes \(card.inputs.count) inputs, got \(inputs.count)")
        }
        var features: [String: MLFeatureValue] = [:]
        for (spec, data) in zip(card.inputs, inputs) {
            guard data.count == spec.count else {
                throw ELIRError.badInput("\(spec.name) has \(data.count) values, needs \(spec.count)")
            }
            if let array = inputArrays[spec.name] {
                data.withUnsafeBufferPointer { src in
                    array.withUnsafeMutableBytes { dst, _ in dst.copyMemory(from: UnsafeRawBufferPointer(src)) }
                }
                features[spec.name] = MLFeatureValue(multiArray: array)
            } else {
                let (h, w) = (spec.shape[spec.shape.count - 2], spec.shape[spec.shape.count - 1])
                features[spec.name] = MLFeatureValue(pixelBuffer: try ImageIO.pixelBuffer(fromCHW: data, h: h, w: w))
            }
        }
        provider = try MLDictionaryFeatureProvider(dictionary: features)
    }

    public func invoke() throws {
        guard let provider else { throw ELIRError.runtime("invoke before write") }
        output = try model.prediction(from: provider)
    }

    public func read() throws -> [Float] {
        guard let name = card.outputs.first?.name, let value = output?.featureValue(for: name) else {
            throw ELIRError.runtime("the model has no output named \(card.outputs.first?.name ?? "?")")
        }
        if let buffer = value.imageBufferValue { return try ImageIO.chw(from: buffer).data }
        guard let array = value.multiArrayValue else { throw ELIRError.runtime("output \(name) is neither tensor nor image") }
        // Logical (row-major) order whatever the strides, float16 converted: MLShapedArray does both.
        return MLShapedArray<Float>(converting: array).scalars
    }
}

/// Per-op compute device counts from MLComputePlan, for the record's accelerator.op_placement.
@available(iOS 17.4, macOS 14.4, *)
public enum ComputePlanReport {
    static func name(_ device: MLComputeDevice) -> String {
        switch device {
        case .cpu: return "cpu"
        case .gpu: return "gpu"
        case .neuralEngine: return "neural_engine"
        @unknown default: return "unknown"
        }
    }

    public static func deviceCounts(compiledModel: URL, configuration: MLModelConfiguration) async throws -> [String: Int] {
        let plan = try await MLComputePlan.load(contentsOf: compiledModel, configuration: configuration)
        var counts: [String: Int] = [:]
        func visit(_ block: MLModelStructure.Program.Block) {
            for op in block.operations {
                if let usage = plan.deviceUsage(for: op) { counts[name(usage.preferred), default: 0] += 1 }
                for nested in op.blocks { visit(nested) }
            }
        }
        switch plan.modelStructure {
        case .program(let program):
            for function in program.functions.values { visit(function.block) }
        case .neuralNetwork(let network):
            for layer in network.layers {
                if let usage = plan.deviceUsage(for: layer) { counts[name(usage.preferred), default: 0] += 1 }
            }
        default:
            break
        }
        return counts
    }
}
