import CryptoKit
import Foundation

/// The model-card fields the app needs (export/card.schema.json, schema_version 2), decoded strictly: a missing or
/// mistyped field, or another schema version, fails with its key path.  Same fields as native/src/card.cpp and the
/// Android core's ModelCard.kt.
public struct ModelCard: Decodable {
    public static let schemaVersion = 2

    public struct Artifact: Decodable {
        public let file: String
        public let format: String
        public let backend: String
        public let precision: String
        public let compression: String?
        public let sizeBytes: Int
        public let sha256: String
        /// Entry points: forward, and for a .pte also encode, step_0 ... step_<K-1>, decode.
        public let methods: [String: Method]
        enum CodingKeys: String, CodingKey {
            case file, format, backend, precision, compression, sha256, methods
            case sizeBytes = "size_bytes"
        }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            file = try c.decode(String.self, forKey: .file)
            format = try c.decode(String.self, forKey: .format)
            backend = try c.decode(String.self, forKey: .backend)
            precision = try c.decode(String.self, forKey: .precision)
            compression = try c.decode(String?.self, forKey: .compression)  // required, may be null
            sizeBytes = try c.decode(Int.self, forKey: .sizeBytes)
            sha256 = try c.decode(String.self, forKey: .sha256)
            methods = try c.decode([String: Method].self, forKey: .methods)
        }
    }

    public struct Method: Decodable {
        public let inputs: [String]
        public let outputs: [String]
    }

    /// Integer tensors: real = scale * (q - zeroPoint).
    public struct Quantization: Decodable, Equatable {
        public let scale: Double
        public let zeroPoint: Int
        enum CodingKeys: String, CodingKey {
            case scale
            case zeroPoint = "zero_point"
        }
    }

    public struct TensorSpec: Decodable {
        public let name: String
        public let shape: [Int]
        public let layout: String
        /// float32 | float16 | int8 | uint8 | int16: the artifact's own element type.
        public let dtype: String
        /// tensor | image (a Core ML image feature).
        public let kind: String
        public let quantization: Quantization?
        public var count: Int { shape.reduce(1, *) }
        enum CodingKeys: String, CodingKey { case name, shape, layout, dtype, kind, quantization }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            shape = try c.decode([Int].self, forKey: .shape)
            layout = try c.decode(String.self, forKey: .layout)
            dtype = try c.decode(String.self, forKey: .dtype)
            kind = try c.decode(String.self, forKey: .kind)
            quantization = try c.decode(Quantization?.self, forKey: .quantization)  // required, may be null
        }
    }

    public struct VectorSpec: Decodable {
        public let file: String
        public let shape: [Int]
        public var count: Int { shape.reduce(1, *) }
    }

    public struct ReferenceVectors: Decodable {
        public let dtype: String
        public let byteOrder: String
        public let inputs: [VectorSpec]
        public let output: VectorSpec
        enum CodingKeys: String, CodingKey {
            case dtype, inputs, output
            case byteOrder = "byte_order"
        }
    }

    public struct ParityInfo: Decodable {
        public let gateDb: Double
        /// real | emulated | not_run: how the exporter checked the artifact.
        public let runtimeKind: String
        enum CodingKeys: String, CodingKey {
            case gateDb = "gate_db"
            case runtimeKind = "runtime_kind"
        }
    }

    /// One measure per target (delegated / Neural Engine / GPU-delegate MAC share) and its value.
    public struct Placement: Decodable {
        public let measure: String
        public let share: Double?
    }

    public let task: String
    public let K: Int
    public let sigmaS: Double
    public let noiseMode: String
    public let imageSize: Int
    public let artifact: Artifact
    public let inputs: [TensorSpec]
    public let outputs: [TensorSpec]
    public let parity: ParityInfo
    public let placement: Placement
    public let referenceVectors: ReferenceVectors
    /// Set by `load`: the card's own URL; artifact and vectors resolve beside it.
    public private(set) var url: URL = URL(fileURLWithPath: "/")

    enum CodingKeys: String, CodingKey {
        case task, K, inputs, outputs, parity, placement, artifact
        case sigmaS = "sigma_s", noiseMode = "noise_mode", imageSize = "image_size"
        case referenceVectors = "reference_vectors"
    }

    /// The card's placement share when it measures what `runtime` runs (the record's fallback.delegated_mac_share):
    /// ExecuTorch's delegated MACs; Core ML's is an expectation of the Neural Engine, not a delegation.
    public func placementShare(runtime: String) -> Double? {
        runtime == "executorch" && placement.measure == "delegated_mac_share" ? placement.share : nil
    }

    public var artifactURL: URL { url.deletingLastPathComponent().appendingPathComponent(artifact.file) }
    public func vectorURL(_ v: VectorSpec) -> URL { url.deletingLastPathComponent().appendingPathComponent(v.file) }

    public static func load(_ url: URL) throws -> ModelCard {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ELIRError.badInput("cannot read model card \(url.path)") }
        do {
            struct Version: Decodable {
                let value: Int
                enum CodingKeys: String, CodingKey { case value = "schema_version" }
            }
            let version = try JSONDecoder().decode(Version.self, from: data).value
            guard version == schemaVersion else {
                throw ELIRError.badInput("\(url.lastPathComponent): card schema_version \(version), this app reads " +
                                         "\(schemaVersion) (re-export the artifact with this repository's exporter)")
            }
            var card = try JSONDecoder().decode(ModelCard.self, from: data)
            guard card.referenceVectors.dtype == "float32", card.referenceVectors.byteOrder == "little" else {
                throw ELIRError.badInput("\(url.lastPathComponent): reference vectors must be little-endian float32")
            }
            card.url = url
            return card
        } catch let e as DecodingError {
            throw ELIRError.badInput("\(url.lastPathComponent): \(Self.describe(e))")
        }
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: [CodingKey]) -> String { c.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
        switch e {
        case .keyNotFound(let key, let ctx): return "\(path(ctx.codingPath + [key])) is missing"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return "\(path(ctx.codingPath)) has the wrong type"
        case .dataCorrupted(let ctx): return "not JSON (\(ctx.debugDescription))"
        @unknown default: return "\(e)"
        }
    }

    /// SHA-256 of the artifact as the exporter computes it (export/card.py `sha256_of`): the file's bytes, or for
    /// a directory (.mlpackage) its files' bytes in sorted relative-path order.
    public func artifactSHA256() throws -> String {
        let root = artifactURL
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDir) else {
            throw ELIRError.badInput("artifact not found: \(root.path)")
        }
        var files: [(String, URL)] = []
        if isDir.boolValue {
            let prefix = root.standardizedFileURL.path + "/"
            let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
            while let url = e?.nextObject() as? URL {
                if (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true {
                    files.append((String(url.standardizedFileURL.path.dropFirst(prefix.count)), url))
                }
            }
            // Python sorts str by code point; compare the UTF-8 bytes to match.
            files.sort { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
        } else {
            files = [(root.lastPathComponent, root)]
        }
        var hasher = SHA256()
        for (_, url) in files {
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The reference inputs and expected output, shaped as the card says.
    public func referenceData() throws -> (inputs: [[Float]], expected: [Float]) {
        let ins = try referenceVectors.inputs.map { try Parity.readF32LE(vectorURL($0), count: $0.count) }
        let out = try Parity.readF32LE(vectorURL(referenceVectors.output), count: referenceVectors.output.count)
        return (ins, out)
    }
}
