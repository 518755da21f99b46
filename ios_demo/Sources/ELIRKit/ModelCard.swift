import CryptoKit
import Foundation

/// The model-card fields the app needs (the export pipeline's card format), decoded strictly: a missing or mistyped
/// field fails decoding with its key path.  Same fields as native/src/card.cpp and the Android ModelCard.
public struct ModelCard: Decodable {
    public struct Artifact: Decodable {
        public let file: String
        public let format: String
        public let backend: String
        public let precision: String
        public let compression: String?
        public let sizeBytes: Int
        public let sha256: String
        enum CodingKeys: String, CodingKey {
            case file, format, backend, precision, compression, sha256
            case sizeBytes = "size_bytes"
        }
    }

    public struct TensorSpec: Decodable {
        public let name: String
        public let shape: [Int]
        public let layout: String
        public var count: Int { shape.reduce(1, *) }
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
        enum CodingKeys: String, CodingKey { case gateDb = "gate_db" }
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
    public let referenceVectors: ReferenceVectors
    /// Set by `load`: the card's own URL; artifact and vectors resolve beside it.
    public private(set) var url: URL = URL(fileURLWithPath: "/")

    enum CodingKeys: String, CodingKey {
        case task, K, inputs, outputs, parity, artifact
        case sigmaS = "sigma_s", noiseMode = "noise_mode", imageSize = "image_size"
        case referenceVectors = "reference_vectors"
    }

    public var artifactURL: URL { url.deletingLastPathComponent().appendingPathComponent(artifact.file) }
    public func vectorURL(_ v: VectorSpec) -> URL { url.deletingLastPathComponent().appendingPathComponent(v.file) }

    public static func load(_ url: URL) throws -> ModelCard {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw ELIRError.badInput("cannot read model card \(url.path)") }
        do {
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
