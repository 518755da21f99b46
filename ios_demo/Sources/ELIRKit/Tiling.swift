import Foundation

/// Overlapping tiles blended with fading weights: a mirror of elir_mobile/tiling.py (and the Android Tiling.kt).
/// Images are planar float CHW (3 x h x w) in [0, 1].
public enum Tiling {
    public static let latentStride = 8

    public static func tileStarts(_ length: Int, tile: Int, overlap: Int) -> [Int] {
        if length <= tile { return [0] }
        let stride = Swift.max(latentStride, (tile - overlap) / latentStride * latentStride)
        var starts = Array(Swift.stride(from: 0, to: length - tile, by: stride))
        starts.append(length - tile)
        return starts
    }

    public static func edgeWeights(_ tile: Int, overlap: Int, fadeStart: Bool, fadeEnd: Bool) -> [Float] {
        let margin = Double(overlap) / 4
        func fade(_ distance: Double) -> Double {
            let ramp = Swift.min(Swift.max((distance - margin) / Swift.max(Double(overlap) - margin, 1), 0), 1)
            let s = sin(0.5 * Double.pi * ramp)
            return s * s
        }
        return (0..<tile).map { i in
            let pos = Double(i) + 0.5
            var w = 1.0
            if fadeStart { w *= fade(pos) }
            if fadeEnd { w *= fade(Double(tile) - pos) }
            return Float(Swift.max(w, 1e-3))
        }
    }

    public static func paddedSize(_ h: Int, _ w: Int, tile: Int) -> (Int, Int) {
        func grow(_ n: Int) -> Int { Swift.max(tile, (n + latentStride - 1) / latentStride * latentStride) }
        return (grow(h), grow(w))
    }

    /// Extend at the bottom/right: mirrored (edge not repeated) where it can, replicated otherwise.
    public static func pad(_ image: [Float], h: Int, w: Int, ph: Int, pw: Int) -> [Float] {
        if ph <= h && pw <= w { return image }
        let reflect = ph - h < h && pw - w < w
        func src(_ i: Int, _ n: Int) -> Int { i < n ? i : (reflect ? 2 * (n - 1) - i : n - 1) }
        var out = [Float](repeating: 0, count: 3 * ph * pw)
        for c in 0..<3 { for y in 0..<ph { for x in 0..<pw {
            out[(c * ph + y) * pw + x] = image[(c * h + src(y, h)) * w + src(x, w)]
        } } }
        return out
    }

    /// `fn(tileCHW, y0, x0)` over (tile x tile) crops, blended; returns the (h, w) result.
    public static func runTiled(_ image: [Float], h: Int, w: Int, tile: Int, overlap: Int? = nil,
                                _ fn: ([Float], Int, Int) throws -> [Float]) rethrows -> [Float] {
        let overlap = overlap ?? tile / 4
        let (ph, pw) = paddedSize(h, w, tile: tile)
        let padded = pad(image, h: h, w: w, ph: ph, pw: pw)
        var out = [Float](repeating: 0, count: 3 * ph * pw)
        var weight = [Float](repeating: 0, count: ph * pw)
        var crop = [Float](repeating: 0, count: 3 * tile * tile)
        for y0 in tileStarts(ph, tile: tile, overlap: overlap) {
            for x0 in tileStarts(pw, tile: tile, overlap: overlap) {
                for c in 0..<3 { for y in 0..<tile { for x in 0..<tile {
                    crop[(c * tile + y) * tile + x] = padded[(c * ph + y0 + y) * pw + x0 + x]
                } } }
                let restored = try fn(crop, y0, x0)
                let wy = edgeWeights(tile, overlap: overlap, fadeStart: y0 > 0, fadeEnd: y0 + tile < ph)
                let wx = edgeWeights(tile, overlap: overlap, fadeStart: x0 > 0, fadeEnd: x0 + tile < pw)
                for y in 0..<tile { for x in 0..<tile {
                    let wgt = wy[y] * wx[x]
                    weight[(y0 + y) * pw + x0 + x] += wgt
                    for c in 0..<3 { out[(c * ph + y0 + y) * pw + x0 + x] += restored[(c * tile + y) * tile + x] * wgt }
                } }
            }
        }
        var result = [Float](repeating: 0, count: 3 * h * w)
        for c in 0..<3 { for y in 0..<h { for x in 0..<w {
            result[(c * h + y) * w + x] = out[(c * ph + y) * pw + x] / weight[y * pw + x]
        } } }
        return result
    }
}
