import Foundation

/// A planar (channel-major, CHW) float image: the layout `Restorer` and the tiling work in.
public struct Planar {
    public let c: Int, h: Int, w: Int
    public var data: [Float]

    public init(c: Int, h: Int, w: Int, data: [Float]? = nil) {
        let values = data ?? [Float](repeating: 0, count: c * h * w)
        precondition(values.count == c * h * w, "a \(c) x \(h) x \(w) image needs \(c * h * w) values")
        self.c = c
        self.h = h
        self.w = w
        self.data = values
    }
}

/// The warps of elir_mobile/faces/alignment.py, sample for sample, as the Android core's FaceWarp.kt (held to the
/// same Python vectors): torch's `grid_sample` (align_corners=False) with bicubic (A = -0.75) or bilinear taps and
/// reflection / border / zeros padding; where a warp shrinks, a warp at the source's resolution followed by torch's
/// antialiased resize, so a large face squeezed into sr's 32 px crop does not alias.  Plain Swift rather than Core
/// Image, whose resampling filters and edge modes are not these, so the phone pastes what the desktop pastes.
/// Matrices map source to destination pixels (see `FaceAlign`).
public enum FaceWarp {
    public enum Mode { case bicubic, bilinear }
    public enum Padding { case reflection, border, zeros }

    static let cubicA = -0.75  // grid_sample's bicubic
    static let antialiasCubicA = -0.5  // the antialiased resize's bicubic (PIL's)

    /// `image` warped by `m` into an (outH, outW) image, values clamped to [0, 1] (alignment.warp).
    public static func warp(_ image: Planar, _ m: [Double], outH: Int, outW: Int, mode: Mode = .bicubic,
                            padding: Padding = .reflection) -> Planar {
        let scale = FaceAlign.scaleOf(m)
        if scale < 1 {
            // A whole size stays whole whatever the last bit (alignment.py SIZE_TOLERANCE).
            let fineH = Int((Double(outH) / scale - 1e-9).rounded(.up)), fineW = Int((Double(outW) / scale - 1e-9).rounded(.up))
            let stretch = FaceAlign.scaling(Double(fineW) / Double(outW), Double(fineH) / Double(outH))
            let toFine = FaceAlign.compose(stretch, m)
            let sharp = warp(image, toFine, outH: fineH, outW: fineW, mode: mode, padding: padding)
            return resize(sharp, outH: outH, outW: outW, mode: mode)
        }
        let inverse = FaceAlign.invert(m)
        let plane = image.h * image.w
        var out = Planar(c: image.c, h: outH, w: outW)
        for y in 0..<outH {
            for x in 0..<outW {
                // Where this pixel's centre comes from, in grid_sample's index units (pixel i's centre is at i).
                let px = Double(x) + 0.5, py = Double(y) + 0.5
                let sx = inverse[0] * px + inverse[1] * py + inverse[2] - 0.5
                let sy = inverse[3] * px + inverse[4] * py + inverse[5] - 0.5
                let sample = mode == .bicubic ? bicubicTaps(image, sx, sy, padding)
                                              : bilinearTaps(image, sx, sy, padding)
                for ch in 0..<image.c {
                    var v = 0.0
                    for k in 0..<sample.at.count where sample.at[k] >= 0 {
                        v += sample.weights[k] * Double(image.data[ch * plane + sample.at[k]])
                    }
                    out.data[(ch * outH + y) * outW + x] = Float(clamp(v, 0, 1))
                }
            }
        }
        return out
    }

    /// Blends `crop` into `canvas` in place, where `m` maps canvas pixels to crop pixels (alignment.paste): only the
    /// box the crop covers is warped (bicubic, border padding), weighed by `mask` (one channel, the crop's size,
    /// warped bilinearly with zeros outside), so outside the mask the canvas is untouched.
    public static func paste(_ canvas: inout Planar, _ crop: Planar, _ m: [Double], mask: Planar) {
        let toCanvas = FaceAlign.invert(m)
        let s = Double(crop.w)
        let corners = [(0.0, 0.0), (s, 0.0), (0.0, s), (s, s)].map { FaceAlign.apply(toCanvas, $0.0, $0.1) }
        let xs = corners.map { $0.0 }, ys = corners.map { $0.1 }
        let x0 = clamp(Int(xs.min()!.rounded(.down)), 0, canvas.w), x1 = clamp(Int(xs.max()!.rounded(.up)), 0, canvas.w)
        let y0 = clamp(Int(ys.min()!.rounded(.down)), 0, canvas.h), y1 = clamp(Int(ys.max()!.rounded(.up)), 0, canvas.h)
        guard x1 > x0, y1 > y0 else { return }
        let bw = x1 - x0, bh = y1 - y0
        let toBox = FaceAlign.compose(FaceAlign.translation(-Double(x0), -Double(y0)), toCanvas)
        let face = warp(crop, toBox, outH: bh, outW: bw, mode: .bicubic, padding: .border)
        let weight = warp(mask, toBox, outH: bh, outW: bw, mode: .bilinear, padding: .zeros)
        for ch in 0..<canvas.c {
            for y in 0..<bh {
                for x in 0..<bw {
                    let k = weight.data[y * bw + x]
                    let i = (ch * canvas.h + y0 + y) * canvas.w + x0 + x
                    canvas.data[i] = canvas.data[i] * (1 - k) + face.data[(ch * bh + y) * bw + x] * k
                }
            }
        }
    }

    /// torch's `F.interpolate(size, mode, antialias=True, align_corners=False)`: separable, each output sample the
    /// normalised filter-weighted sum of the inputs under its support, the filter stretched by the shrink factor.
    public static func resize(_ image: Planar, outH: Int, outW: Int, mode: Mode) -> Planar {
        let columns = antialiasTaps(image.w, outW, mode), rows = antialiasTaps(image.h, outH, mode)
        var wide = Planar(c: image.c, h: image.h, w: outW)
        for ch in 0..<image.c {
            for y in 0..<image.h {
                for x in 0..<outW {
                    let taps = columns[x], row = (ch * image.h + y) * image.w + taps.start
                    var v = 0.0
                    for k in 0..<taps.weights.count { v += taps.weights[k] * Double(image.data[row + k]) }
                    wide.data[(ch * image.h + y) * outW + x] = Float(v)
                }
            }
        }
        var out = Planar(c: image.c, h: outH, w: outW)
        for ch in 0..<image.c {
            for y in 0..<outH {
                for x in 0..<outW {
                    let taps = rows[y], column = (ch * image.h + taps.start) * outW + x
                    var v = 0.0
                    for k in 0..<taps.weights.count { v += taps.weights[k] * Double(wide.data[column + k * outW]) }
                    out.data[(ch * outH + y) * outW + x] = Float(clamp(v, 0, 1))
                }
            }
        }
        return out
    }

    static func antialiasTaps(_ inSize: Int, _ outSize: Int, _ mode: Mode) -> [(start: Int, weights: [Double])] {
        let scale = Double(inSize) / Double(outSize)
        let support = (mode == .bicubic ? 2.0 : 1.0) * Swift.max(scale, 1)
        let stretch = scale >= 1 ? 1 / scale : 1
        return (0..<outSize).map { (i: Int) -> (start: Int, weights: [Double]) in
            let centre = scale * (Double(i) + 0.5)
            let start = Swift.max(Int(centre - support + 0.5), 0)
            let end = Swift.min(Int(centre + support + 0.5), inSize)
            let raw = (start..<end).map { antialiasFilter((Double($0) - centre + 0.5) * stretch, mode) }
            let total = raw.reduce(0, +)
            return (start, total != 0 ? raw.map { $0 / total } : raw)
        }
    }

    static func antialiasFilter(_ x: Double, _ mode: Mode) -> Double {
        let t = abs(x)
        if mode == .bilinear { return Swift.max(0, 1 - t) }
        let a = antialiasCubicA
        if t < 1 { return ((a + 2) * t - (a + 3)) * t * t + 1 }
        if t < 2 { return (((t - 5) * t + 8) * t - 4) * a }
        return 0
    }

    static func cubicNear(_ x: Double) -> Double { ((cubicA + 2) * x - (cubicA + 3)) * x * x + 1 }
    static func cubicFar(_ x: Double) -> Double { ((cubicA * x - 5 * cubicA) * x + 8 * cubicA) * x - 4 * cubicA }
    static func cubicWeights(_ t: Double) -> [Double] {
        [cubicFar(t + 1), cubicNear(t), cubicNear(1 - t), cubicFar(2 - t)]
    }

    /// grid_sample's bicubic: 4 x 4 taps around (sx, sy), each tap padded on its own.  `at`: offsets in a channel
    /// plane (y * w + x; -1 reads a zero).
    static func bicubicTaps(_ image: Planar, _ sx: Double, _ sy: Double,
                            _ padding: Padding) -> (at: [Int], weights: [Double]) {
        let fx = sx.rounded(.down), fy = sy.rounded(.down)
        let wx = cubicWeights(sx - fx), wy = cubicWeights(sy - fy)
        var at = [Int](repeating: -1, count: 16), weights = [Double](repeating: 0, count: 16)
        for j in 0..<4 {
            for i in 0..<4 {
                let y = tap(Int(fy) - 1 + j, image.h, padding), x = tap(Int(fx) - 1 + i, image.w, padding)
                at[4 * j + i] = x < 0 || y < 0 ? -1 : y * image.w + x
                weights[4 * j + i] = wy[j] * wx[i]
            }
        }
        return (at, weights)
    }

    /// grid_sample's bilinear: the coordinate padded first, then its 4 neighbours, those outside reading zero.
    static func bilinearTaps(_ image: Planar, _ sx: Double, _ sy: Double,
                             _ padding: Padding) -> (at: [Int], weights: [Double]) {
        let x = coordinate(sx, image.w, padding), y = coordinate(sy, image.h, padding)
        let x0 = x.rounded(.down), y0 = y.rounded(.down)
        let fx = x - x0, fy = y - y0
        let i = Int(x0), j = Int(y0)
        func at(_ i: Int, _ j: Int) -> Int {
            (0..<image.w).contains(i) && (0..<image.h).contains(j) ? j * image.w + i : -1
        }
        return ([at(i, j), at(i + 1, j), at(i, j + 1), at(i + 1, j + 1)],
                [(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
    }

    /// Where an integer bicubic tap reads (grid_sample pads each tap), or -1 for a zero outside the image.
    static func tap(_ i: Int, _ size: Int, _ padding: Padding) -> Int {
        switch padding {
        case .zeros: return (0..<size).contains(i) ? i : -1
        case .border: return clamp(i, 0, size - 1)
        case .reflection: return Int(reflect(Double(i), size))
        }
    }

    /// A bilinear sample's coordinate after padding (zeros: as is, the taps outside read 0).
    static func coordinate(_ x: Double, _ size: Int, _ padding: Padding) -> Double {
        switch padding {
        case .zeros: return x
        case .border: return clamp(x, 0, Double(size - 1))
        case .reflection: return reflect(x, size)
        }
    }

    /// grid_sample's reflection for align_corners=False: mirrored at the outer pixel edges -0.5 and size - 0.5.
    static func reflect(_ x: Double, _ size: Int) -> Double {
        let span = Double(size), d = abs(x + 0.5)
        let extra = d.truncatingRemainder(dividingBy: span)
        let flips = Int((d / span).rounded(.down))
        let r = flips % 2 == 0 ? extra - 0.5 : span - extra - 0.5
        return clamp(r, 0, span - 1)
    }

    static func clamp<T: Comparable>(_ v: T, _ lo: T, _ hi: T) -> T { Swift.min(Swift.max(v, lo), hi) }
}
