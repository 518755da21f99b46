import CoreGraphics
import CoreImage
import CoreVideo
import Foundation

/// CVPixelBuffer (32BGRA) <-> planar float CHW in [0, 1], plus the task's input preparation.
public enum ImageIO {
    public static func chw(from buffer: CVPixelBuffer) throws -> (data: [Float], h: Int, w: Int) {
        guard CVPixelBufferGetPixelFormatType(buffer) == kCVPixelFormatType_32BGRA else {
            throw ELIRError.badInput("pixel buffer must be 32BGRA")
        }
        CVPixelBufferLockBaseAddress(buffer, .readOnly)
        defer { CVPixelBufferUnlockBaseAddress(buffer, .readOnly) }
        let w = CVPixelBufferGetWidth(buffer), h = CVPixelBufferGetHeight(buffer)
        let row = CVPixelBufferGetBytesPerRow(buffer)
        guard let base = CVPixelBufferGetBaseAddress(buffer) else { throw ELIRError.runtime("empty pixel buffer") }
        let p = base.assumingMemoryBound(to: UInt8.self)
        var out = [Float](repeating: 0, count: 3 * h * w)
        for y in 0..<h { for x in 0..<w {
            let px = p + y * row + 4 * x  // B G R A
            out[y * w + x] = Float(px[2]) / 255
            out[h * w + y * w + x] = Float(px[1]) / 255
            out[2 * h * w + y * w + x] = Float(px[0]) / 255
        } }
        return (out, h, w)
    }

    public static func pixelBuffer(fromCHW x: [Float], h: Int, w: Int) throws -> CVPixelBuffer {
        var buffer: CVPixelBuffer?
        let attrs = [kCVPixelBufferCGImageCompatibilityKey: true, kCVPixelBufferCGBitmapContextCompatibilityKey: true] as CFDictionary
        guard CVPixelBufferCreate(nil, w, h, kCVPixelFormatType_32BGRA, attrs, &buffer) == kCVReturnSuccess, let buffer else {
            throw ELIRError.runtime("cannot allocate a \(w)x\(h) pixel buffer")
        }
        CVPixelBufferLockBaseAddress(buffer, [])
        defer { CVPixelBufferUnlockBaseAddress(buffer, []) }
        let row = CVPixelBufferGetBytesPerRow(buffer)
        let p = CVPixelBufferGetBaseAddress(buffer)!.assumingMemoryBound(to: UInt8.self)
        func q(_ v: Float) -> UInt8 { UInt8(Swift.min(Swift.max(v, 0), 1) * 255 + 0.5) }
        for y in 0..<h { for x in 0..<w {
            let px = p + y * row + 4 * x
            px[0] = q(x[2 * h * w + y * w + x]); px[1] = q(x[h * w + y * w + x]); px[2] = q(x[y * w + x]); px[3] = 255
        } }
        return buffer
    }

    /// A 32BGRA buffer of `image` scaled to (w, h): Lanczos (smooth) or nearest (exact pixel repeat).
    public static func pixelBuffer(from image: CGImage, width: Int, height: Int, nearest: Bool = false) throws -> CVPixelBuffer {
        var ci = CIImage(cgImage: image)
        let sx = CGFloat(width) / CGFloat(image.width), sy = CGFloat(height) / CGFloat(image.height)
        if nearest {
            ci = ci.samplingNearest().transformed(by: CGAffineTransform(scaleX: sx, y: sy))
        } else if sx != 1 || sy != 1 {
            ci = ci.transformed(by: CGAffineTransform(scaleX: sx, y: sy))
        }
        var buffer: CVPixelBuffer?
        let attrs = [kCVPixelBufferCGImageCompatibilityKey: true, kCVPixelBufferCGBitmapContextCompatibilityKey: true] as CFDictionary
        guard CVPixelBufferCreate(nil, width, height, kCVPixelFormatType_32BGRA, attrs, &buffer) == kCVReturnSuccess, let buffer else {
            throw ELIRError.runtime("cannot allocate a \(width)x\(height) pixel buffer")
        }
        CIContext().render(ci, to: buffer)
        return buffer
    }

    /// elir_mobile.tasks Task.prepare per task: what the photo goes through before tiling.
    public static let prepare = ["bfr": "resize", "sr": "upsample8", "bsr": "upsample4",
                                 "denoising": "tile", "inpainting": "tile"]

    /// The model-ready image for `card`'s task (elir_mobile.restoration.prepare_input; Core Image's affine
    /// resampling stands in for PyTorch's bicubic, nearest-exact is exact).
    public static func prepared(_ image: CGImage, card: ModelCard) throws -> CVPixelBuffer {
        switch prepare[card.task] ?? "tile" {
        case "resize": return try pixelBuffer(from: image, width: card.imageSize, height: card.imageSize)
        case "upsample8": return try pixelBuffer(from: image, width: card.imageSize, height: card.imageSize, nearest: true)
        case "upsample4": return try pixelBuffer(from: image, width: image.width * 4, height: image.height * 4)
        default: return try pixelBuffer(from: image, width: image.width, height: image.height)
        }
    }
}

/// Whole-photo restoration with a fixed-size artifact (elir_mobile/restoration.py): blended overlapping tiles of
/// the artifact's size; for noise-input artifacts one latent noise field for the padded image, sliced per tile.
public struct Restorer {
    let card: ModelCard
    let engine: Engine

    public init(card: ModelCard, engine: Engine) { self.card = card; self.engine = engine }

    public func restore(_ image: [Float], h: Int, w: Int, seed: UInt64 = 0) throws -> [Float] {
        let tile = card.imageSize
        let nhwc = card.inputs.first?.layout == "NHWC"
        let noise = card.inputs.count > 1 ? LatentNoise(card: card, h: h, w: w, seed: seed) : nil
        return try Tiling.runTiled(image, h: h, w: w, tile: tile) { crop, y0, x0 in
            var inputs = [nhwc ? Layout.chwToHwc(crop, c: 3, h: tile, w: tile) : crop]
            if let noise { inputs.append(noise.slice(y0: y0, x0: x0, nhwc: nhwc)) }
            let out = try engine.run(inputs)
            return (nhwc ? Layout.hwcToChw(out, c: 3, h: tile, w: tile) : out).map { Swift.min(Swift.max($0, 0), 1) }
        }
    }

    struct LatentNoise {
        let channels: Int, lh: Int, lw: Int, t: Int
        let field: [Float]

        init(card: ModelCard, h: Int, w: Int, seed: UInt64) {
            let spec = card.inputs[1]
            channels = spec.layout == "NHWC" ? spec.shape[3] : spec.shape[1]
            let (ph, pw) = Tiling.paddedSize(h, w, tile: card.imageSize)
            lh = ph / Tiling.latentStride; lw = pw / Tiling.latentStride; t = card.imageSize / Tiling.latentStride
            var rng = SplitMix64(seed: seed)
            let sigma = Float(card.sigmaS)
            field = (0..<(channels * lh * lw)).map { _ in sigma * rng.nextGaussian() }
        }

        func slice(y0: Int, x0: Int, nhwc: Bool) -> [Float] {
            let ly = y0 / Tiling.latentStride, lx = x0 / Tiling.latentStride
            var chw = [Float](repeating: 0, count: channels * t * t)
            for c in 0..<channels { for y in 0..<t { for x in 0..<t {
                chw[(c * t + y) * t + x] = field[(c * lh + ly + y) * lw + lx + x]
            } } }
            return nhwc ? Layout.chwToHwc(chw, c: channels, h: t, w: t) : chw
        }
    }
}

public enum Layout {
    public static func chwToHwc(_ x: [Float], c: Int, h: Int, w: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for ci in 0..<c { for y in 0..<h { for xi in 0..<w { out[(y * w + xi) * c + ci] = x[(ci * h + y) * w + xi] } } }
        return out
    }

    public static func hwcToChw(_ x: [Float], c: Int, h: Int, w: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        for ci in 0..<c { for y in 0..<h { for xi in 0..<w { out[(ci * h + y) * w + xi] = x[(y * w + xi) * c + ci] } } }
        return out
    }
}

/// Seeded Gaussian noise (SplitMix64 + Box-Muller): reproducible per seed on every device.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Double { Double(next() >> 11) / Double(1 << 53) }
    mutating func nextGaussian() -> Float {
        let u1 = Swift.max(uniform(), 1e-300), u2 = uniform()
        return Float(sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2))
    }
}
