import Foundation

/// Whole-photo face restoration's plain geometry: a mirror of elir_mobile/faces (landmarks.five_points,
/// alignment.template / similarity / invert / feather_mask, pipeline.input_size) and the Android FaceAlign.kt.
/// Landmarks come from Vision's `VNFaceLandmarks2D`, in pixels (`FacePhoto.fromVision`).  Points are flat
/// [x0, y0, x1, y1, ...]; a matrix is a row-major 2 x 3 affine mapping source to destination pixels, on
/// continuous pixel coordinates (pixel (i, j) covers [i, i+1) x [j, j+1)), y pointing down.
public enum FaceAlign {
    /// The FFHQ template at 512 px: eye left in the picture, the other eye, nose tip, mouth corners left, right.
    public static let ffhqTemplate512: [Double] = [192.98, 239.95, 318.90, 240.19, 256.63, 314.02, 201.26, 371.41,
                                                   313.09, 371.15]
    public static let featherFraction = 0.1

    public static func template(_ size: Int) -> [Double] { ffhqTemplate512.map { $0 * Double(size) / 512 } }

    /// Side of the aligned crop a task's restore path takes: `sr` (prepare "upsample8") sees its face at 32 px.
    public static func inputSize(prepare: String, imageSize: Int) -> Int {
        prepare == "upsample8" ? imageSize / 8 : imageSize
    }

    /// The five points from Vision's face landmark regions, already converted to image pixels (y down), as the
    /// Python reference defines them: each eye's contour centre (the `leftEye` / `rightEye` regions, given here
    /// in picture order), the nose tip (the lowest point of `noseCrest`) and the mouth corners (the left- and
    /// rightmost points of `outerLips`).
    public static func fivePoints(leftInImageEye: [(Double, Double)], rightInImageEye: [(Double, Double)],
                                  noseCrest: [(Double, Double)], outerLips: [(Double, Double)]) -> [Double] {
        func centre(_ p: [(Double, Double)]) -> (Double, Double) {
            (p.reduce(0.0) { $0 + $1.0 } / Double(p.count), p.reduce(0.0) { $0 + $1.1 } / Double(p.count))
        }
        let (l, r) = (centre(leftInImageEye), centre(rightInImageEye))
        let tip = noseCrest.max { $0.1 < $1.1 } ?? (0, 0)
        let left = outerLips.min { $0.0 < $1.0 } ?? (0, 0)
        let right = outerLips.max { $0.0 < $1.0 } ?? (0, 0)
        return [l.0, l.1, r.0, r.1, tip.0, tip.1, left.0, left.1, right.0, right.1]
    }

    /// The least-squares similarity taking `src` onto `dst` (z -> a z + b in complex numbers, Umeyama in 2-D).
    public static func similarity(_ src: [Double], _ dst: [Double]) -> [Double] {
        precondition(src.count == dst.count && src.count >= 4 && src.count % 2 == 0, "need matching point lists")
        let n = src.count / 2
        let sx = (0..<n).reduce(0.0) { $0 + src[2 * $1] } / Double(n)
        let sy = (0..<n).reduce(0.0) { $0 + src[2 * $1 + 1] } / Double(n)
        let dx = (0..<n).reduce(0.0) { $0 + dst[2 * $1] } / Double(n)
        let dy = (0..<n).reduce(0.0) { $0 + dst[2 * $1 + 1] } / Double(n)
        var re = 0.0, im = 0.0, norm = 0.0
        for i in 0..<n {
            let zx = src[2 * i] - sx, zy = src[2 * i + 1] - sy
            let wx = dst[2 * i] - dx, wy = dst[2 * i + 1] - dy
            re += zx * wx + zy * wy  // conj(z) * w
            im += zx * wy - zy * wx
            norm += zx * zx + zy * zy
        }
        let a = re / norm, b = im / norm
        return [a, -b, dx - (a * sx - b * sy), b, a, dy - (b * sx + a * sy)]
    }

    /// The photo -> crop matrix that puts `points` on the template of a `size` x `size` crop.
    public static func alignment(_ points: [Double], size: Int) -> [Double] { similarity(points, template(size)) }

    public static func invert(_ m: [Double]) -> [Double] {
        let det = m[0] * m[4] - m[1] * m[3]
        let a = m[4] / det, b = -m[1] / det, c = -m[3] / det, d = m[0] / det
        return [a, b, -(a * m[2] + b * m[5]), c, d, -(c * m[2] + d * m[5])]
    }

    public static func apply(_ m: [Double], _ x: Double, _ y: Double) -> (Double, Double) {
        (m[0] * x + m[1] * y + m[2], m[3] * x + m[4] * y + m[5])
    }

    /// The affine `outer` after `inner` (alignment.compose).
    public static func compose(_ outer: [Double], _ inner: [Double]) -> [Double] {
        let a = outer[0] * inner[0] + outer[1] * inner[3], b = outer[0] * inner[1] + outer[1] * inner[4]
        let c = outer[0] * inner[2] + outer[1] * inner[5] + outer[2]
        let d = outer[3] * inner[0] + outer[4] * inner[3], e = outer[3] * inner[1] + outer[4] * inner[4]
        let f = outer[3] * inner[2] + outer[4] * inner[5] + outer[5]
        return [a, b, c, d, e, f]
    }

    public static func scaling(_ fx: Double, _ fy: Double? = nil) -> [Double] { [fx, 0, 0, 0, fy ?? fx, 0] }

    public static func translation(_ dx: Double, _ dy: Double) -> [Double] { [1, 0, dx, 0, 1, dy] }

    /// The linear scale of `m` (sqrt |det|): below 1 a warp shrinks, and must antialias.
    public static func scaleOf(_ m: [Double]) -> Double { abs(m[0] * m[4] - m[1] * m[3]).squareRoot() }

    /// 1-D paste weights: sin^2(pi/2 * d / feather), d a pixel centre's distance from the nearer edge, capped at 1.
    public static func featherRamp(_ size: Int) -> [Float] {
        let feather = featherFraction * Double(size)
        return (0..<size).map { i in
            let distance = Swift.min(Double(i) + 0.5, Double(size - i) - 0.5)
            let s = sin(0.5 * Double.pi * Swift.min(Swift.max(distance / feather, 0), 1))
            return Float(s * s)
        }
    }

    /// The (size x size, row-major) feathered mask: the product of the row and column ramps.
    public static func featherMask(_ size: Int) -> [Float] {
        let ramp = featherRamp(size)
        return (0..<(size * size)).map { ramp[$0 / size] * ramp[$0 % size] }
    }
}
