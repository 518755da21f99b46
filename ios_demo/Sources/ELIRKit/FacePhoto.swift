import Foundation

/// One face in a photo: its five alignment points and its width (the landmarks' horizontal extent), in pixels.
public struct Face {
    public let points: [Double]
    public let width: Double

    public init(points: [Double], width: Double) {
        self.points = points
        self.width = width
    }
}

/// The photo has no face the detector sees at the asked size; the description says what to do instead.
public struct NoFaceFound: Error, CustomStringConvertible {
    public let minFace: Int

    public var description: String {
        "No face found (looked for faces at least \(minFace) px wide). To restore an aligned face crop as it is, "
            + "turn on \"Aligned crop\"."
    }
}

/// Whole-photo face restoration after the detector, the steps of elir_mobile/faces/pipeline.py and the Android
/// core's FacePhoto.kt: keep the faces at least `minFace` px wide, largest first; align each to the task's crop
/// (`FaceAlign.inputSize`: sr sees its face at 32 px, as in training); restore it; paste every restored crop back
/// under the feathered mask, the largest last so it is on top where faces overlap.  The landmarks come from the
/// app (Vision's `VNDetectFaceLandmarksRequest`, converted by `fromVision`).
public enum FacePhoto {
    /// The released models trained on aligned faces; bsr restores general images and has no face step.
    public static let faceTasks: Set<String> = ["bfr", "sr", "denoising", "inpainting"]
    public static let minFace = 32  // `restore --min-face`'s default

    /// A rectangle normalized to the image, origin at its lower left (Vision's `boundingBox`).
    public struct NormalizedBox {
        public let x: Double, y: Double, width: Double, height: Double

        public init(x: Double, y: Double, width: Double, height: Double) {
            self.x = x
            self.y = y
            self.width = width
            self.height = height
        }
    }

    /// A point of a Vision landmark region (normalized to the face's box, origin at the box's lower left) in image
    /// pixels with y down, the coordinates the template and the warps use.
    public static func pixel(_ p: (Double, Double), in box: NormalizedBox, width: Int,
                             height: Int) -> (Double, Double) {
        ((box.x + p.0 * box.width) * Double(width), (1 - (box.y + p.1 * box.height)) * Double(height))
    }

    /// A face from Vision's landmark regions (normalized points, as `VNFaceLandmarkRegion2D.normalizedPoints`):
    /// the eyes' contour centres in picture order (whichever region Vision names left, the eye further left in
    /// the picture comes first, as in the Python reference), the nose tip and mouth corners from `noseCrest` and
    /// `outerLips` (`FaceAlign.fivePoints`), the width from all the landmarks.
    public static func fromVision(box: NormalizedBox, leftEye: [(Double, Double)], rightEye: [(Double, Double)],
                                  noseCrest: [(Double, Double)], outerLips: [(Double, Double)],
                                  allPoints: [(Double, Double)], width: Int, height: Int) -> Face {
        func px(_ region: [(Double, Double)]) -> [(Double, Double)] {
            region.map { pixel($0, in: box, width: width, height: height) }
        }
        func meanX(_ region: [(Double, Double)]) -> Double { region.reduce(0.0) { $0 + $1.0 } / Double(region.count) }
        let (a, b) = (px(leftEye), px(rightEye))
        let (first, second) = meanX(a) <= meanX(b) ? (a, b) : (b, a)
        let xs = px(allPoints).map { $0.0 }
        let extent = (xs.max() ?? 0) - (xs.min() ?? 0)
        return Face(points: FaceAlign.fivePoints(leftInImageEye: first, rightInImageEye: second,
                                                 noseCrest: px(noseCrest), outerLips: px(outerLips)),
                    width: extent)
    }

    /// The faces to restore (pipeline.find_faces): at least `minFace` px wide, largest first; none throws.
    public static func select(_ faces: [Face], minFace: Int = FacePhoto.minFace) throws -> [Face] {
        let kept = faces.filter { $0.width >= Double(minFace) }.sorted { $0.width > $1.width }
        guard !kept.isEmpty else { throw NoFaceFound(minFace: minFace) }
        return kept
    }

    /// The `size` x `size` aligned crop of `face` and its photo -> crop matrix (alignment.align).
    public static func align(_ photo: Planar, _ face: Face, size: Int) -> (crop: Planar, matrix: [Double]) {
        let m = FaceAlign.alignment(face.points, size: size)
        return (FaceWarp.warp(photo, m, outH: size, outW: size), m)
    }

    /// The model's input from an aligned crop (restoration.prepare_input): sr's 32 px face repeated x8 (its
    /// nearest-exact upsampling); the other face tasks' crops already are the model's size.
    public static func prepare(_ crop: Planar, prepare: String, imageSize: Int) throws -> Planar {
        let factor = prepare == "upsample8" ? 8 : 1
        guard crop.h * factor == imageSize, crop.w * factor == imageSize else {
            throw ELIRError.badInput("a \(crop.w) px crop is not the \(prepare) input of a \(imageSize) px model")
        }
        if factor == 1 { return crop }
        let n = imageSize
        let data = (0..<(crop.c * n * n)).map { (i: Int) -> Float in
            let ch = i / (n * n)
            return crop.data[(ch * crop.h + (i / n) % n / factor) * crop.w + i % n / factor]
        }
        return Planar(c: crop.c, h: n, w: n, data: data)
    }

    /// The photo with its faces restored; `ms`: align, restore, paste, each over all faces.
    public struct PhotoResult {
        public let image: Planar
        public let faces: Int
        public let ms: [String: Double]
    }

    /// `photo` with every face in `faces` aligned to a `cropSize` crop, restored by `restoreFace` (aligned crop in,
    /// restored square crop of any size out; a throw, e.g. cancellation, stops it) and pasted back at the restored
    /// crop's resolution.
    public static func restore(_ photo: Planar, faces: [Face], cropSize: Int,
                               restoreFace: (Planar) throws -> Planar) rethrows -> PhotoResult {
        var start = Date()
        func lap() -> Double {
            let now = Date()
            defer { start = now }
            return now.timeIntervalSince(start) * 1000
        }
        let aligned = faces.map { align(photo, $0, size: cropSize) }
        let alignMs = lap()
        let restored = try aligned.map { try restoreFace($0.crop) }
        let restoreMs = lap()
        var canvas = Planar(c: photo.c, h: photo.h, w: photo.w, data: photo.data.map { Swift.min(Swift.max($0, 0), 1) })
        for i in faces.indices.reversed() {
            let (crop, matrix) = aligned[i], out = restored[i]
            let toCrop = FaceAlign.compose(FaceAlign.scaling(Double(out.w) / Double(crop.w)), matrix)
            let mask = Planar(c: 1, h: out.h, w: out.w, data: FaceAlign.featherMask(out.w))
            FaceWarp.paste(&canvas, out, toCrop, mask: mask)
        }
        let ms = ["align": alignMs, "restore": restoreMs, "paste": lap()]
        return PhotoResult(image: canvas, faces: faces.count, ms: ms)
    }
}
