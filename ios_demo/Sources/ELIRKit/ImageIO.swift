import CoreGraphics
import CoreImage
import CoreImage.CIFilterBuiltins
import CoreVideo
import Foundation
import ImageIO

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

    public static func pixelBuffer(fromCHW chw: [Float], h: Int, w: Int) throws -> CVPixelBuffer {
        let buffer = try makeBuffer(width: w, height: h)
        CVPixelBufferLockBaseAddress(buffer, [])
        defer { CVPixelBufferUnlockBaseAddress(buffer, []) }
        let row = CVPixelBufferGetBytesPerRow(buffer)
        let p = CVPixelBufferGetBaseAddress(buffer)!.assumingMemoryBound(to: UInt8.self)
        func q(_ v: Float) -> UInt8 { UInt8(Swift.min(Swift.max(v, 0), 1) * 255 + 0.5) }
        for y in 0..<h { for x in 0..<w {
            let px = p + y * row + 4 * x
            px[0] = q(chw[2 * h * w + y * w + x]); px[1] = q(chw[h * w + y * w + x]); px[2] = q(chw[y * w + x]); px[3] = 255
        } }
        return buffer
    }

    static func makeBuffer(width: Int, height: Int) throws -> CVPixelBuffer {
        var buffer: CVPixelBuffer?
        let attrs = [kCVPixelBufferCGImageCompatibilityKey: true, kCVPixelBufferCGBitmapContextCompatibilityKey: true] as CFDictionary
        guard CVPixelBufferCreate(nil, width, height, kCVPixelFormatType_32BGRA, attrs, &buffer) == kCVReturnSuccess,
              let buffer else {
            throw ELIRError.runtime("cannot allocate a \(width)x\(height) pixel buffer")
        }
        return buffer
    }

    /// A 32BGRA buffer of `image` scaled to (width, height): Lanczos (Core Image's CILanczosScaleTransform, the
    /// edges clamped so no transparent border bleeds in) or nearest (exact pixel repeat).
    public static func pixelBuffer(from image: CGImage, width: Int, height: Int, nearest: Bool = false) throws -> CVPixelBuffer {
        let source = CIImage(cgImage: image)
        let sx = CGFloat(width) / CGFloat(image.width), sy = CGFloat(height) / CGFloat(image.height)
        var scaled = source
        if nearest {
            scaled = source.samplingNearest().transformed(by: CGAffineTransform(scaleX: sx, y: sy))
        } else if sx != 1 || sy != 1 {
            let lanczos = CIFilter.lanczosScaleTransform()
            lanczos.inputImage = source.clampedToExtent()
            lanczos.scale = Float(sy)  // vertical factor; aspectRatio is the extra horizontal one
            lanczos.aspectRatio = Float(sx / sy)
            guard let output = lanczos.outputImage else { throw ELIRError.runtime("Lanczos scaling failed") }
            scaled = output
        }
        let buffer = try makeBuffer(width: width, height: height)
        CIContext().render(scaled.cropped(to: CGRect(x: 0, y: 0, width: width, height: height)), to: buffer)
        return buffer
    }

    /// The photo decoded at no more than `maxPixels` (a 12 MP photo at 4 MP) and upright (EXIF orientation applied):
    /// ImageIO's thumbnail path decodes at that size instead of decoding all of it and scaling down.
    public static func decodeCapped(_ data: Data, maxPixels: Int = Restorer.maxPreparedPixels) throws -> CGImage {
        guard let src = CGImageSourceCreateWithData(data as CFData, nil),
              let props = CGImageSourceCopyPropertiesAtIndex(src, 0, nil) as? [CFString: Any],
              let w = props[kCGImagePropertyPixelWidth] as? Int, let h = props[kCGImagePropertyPixelHeight] as? Int else {
            throw ELIRError.badInput("not an image this device can decode")
        }
        let scale = Swift.min(1, (Double(maxPixels) / Double(w * h)).squareRoot())
        let options: [CFString: Any] = [
            kCGImageSourceCreateThumbnailFromImageAlways: true, kCGImageSourceCreateThumbnailWithTransform: true,
            kCGImageSourceThumbnailMaxPixelSize: Int(Double(Swift.max(w, h)) * scale),
        ]
        guard let image = CGImageSourceCreateThumbnailAtIndex(src, 0, options as CFDictionary) else {
            throw ELIRError.badInput("cannot decode the photo")
        }
        return image
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
        case "upsample4":  // bsr: x4 of an input capped so the result stays within Restorer.maxPreparedPixels
            let (w, h) = Restorer.decodeSize(task: card.task, width: image.width, height: image.height)
            return try pixelBuffer(from: image, width: w * 4, height: h * 4)
        default: return try pixelBuffer(from: image, width: image.width, height: image.height)
        }
    }
}

/// Whole-photo restoration with a fixed-size artifact (elir_mobile/restoration.py): blended overlapping tiles of
/// the artifact's size.  A noise-input artifact gets, per tile, its window of the one latent field `Noise` draws for
/// the padded image from `seed` (the field the desktop restore and the Android app draw); a fixed-noise artifact
/// repeats its one baked noise tile in every tile (`repeatsBakedNoise`).
public struct Restorer {
    /// The demo's cap on the prepared image: 4 MP, about 100 tiles of 256.
    public static let maxPreparedPixels = 4_000_000

    let card: ModelCard
    let run: ([[Float]]) throws -> [Float]

    /// `run`: one artifact call on the card's inputs (float values in the card's layouts).
    public init(card: ModelCard, run: @escaping ([[Float]]) throws -> [Float]) { self.card = card; self.run = run }

    public func tiles(h: Int, w: Int) -> Int {
        let tile = card.imageSize
        let (ph, pw) = Tiling.paddedSize(h, w, tile: tile)
        return Tiling.tileStarts(ph, tile: tile, overlap: tile / 4).count * Tiling.tileStarts(pw, tile: tile, overlap: tile / 4).count
    }

    public func repeatsBakedNoise(h: Int, w: Int) -> Bool { card.noiseMode == "fixed" && tiles(h: h, w: w) > 1 }

    /// `image`: planar CHW in [0, 1] of (h, w).  `onTile(done, total)` runs after each tile: progress, and a
    /// throw from it (e.g. `try Task.checkCancellation()`) cancels.
    public func restore(_ image: [Float], h: Int, w: Int, seed: Int64 = 0,
                        onTile: (Int, Int) throws -> Void = { _, _ in }) throws -> [Float] {
        let tile = card.imageSize, s = Tiling.latentStride, t = tile / s
        let imageNHWC = card.inputs[0].layout == "NHWC", outputNHWC = card.outputs[0].layout == "NHWC"
        let noise = card.inputs.count > 1 ? card.inputs[1] : nil
        let (ph, pw) = Tiling.paddedSize(h, w, tile: tile)
        let total = tiles(h: h, w: w)
        var done = 0
        return try Tiling.runTiled(image, h: h, w: w, tile: tile) { crop, y0, x0 in
            var inputs = [imageNHWC ? Layout.chwToHwc(crop, c: 3, h: tile, w: tile) : crop]
            if let noise {
                let c = noise.layout == "NHWC" ? noise.shape[3] : noise.shape[1]
                let window = Noise.window(seed: seed, sigma: card.sigmaS, channels: c, lh: ph / s, lw: pw / s,
                                          ly: y0 / s, lx: x0 / s, t: t)
                inputs.append(noise.layout == "NHWC" ? Layout.chwToHwc(window, c: c, h: t, w: t) : window)
            }
            let out = try run(inputs)
            done += 1
            try onTile(done, total)
            return (outputNHWC ? Layout.hwcToChw(out, c: 3, h: tile, w: tile) : out).map { Swift.min(Swift.max($0, 0), 1) }
        }
    }

    /// The size a photo may have before `task`'s preparation so the prepared image stays within `maxPixels`
    /// (bsr grows each side x4); never upscales.  The Android core's Restorer.decodeSize.
    public static func decodeSize(task: String, width: Int, height: Int, maxPixels: Int = maxPreparedPixels) -> (Int, Int) {
        let growth = ImageIO.prepare[task] == "upsample4" ? 16.0 : 1.0
        let limit = Double(maxPixels) / growth
        guard Double(width * height) > limit else { return (width, height) }
        let scale = (limit / Double(width * height)).squareRoot()
        return (Swift.max(1, Int(Double(width) * scale)), Swift.max(1, Int(Double(height) * scale)))
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
