import XCTest
@testable import ELIRKit

/// Warp, paste and the whole-photo steps against elir_mobile/faces (FaceWarpVectors.swift, written by
/// android_demo/core/face_warp_vectors.py from the Python reference; the Android core's FaceWarpTest.kt holds its
/// port to the same values in CI), and the Vision coordinate conversion.
final class FaceWarpTests: XCTestCase {
    // The generator's inputs, computed here the same way (float64, stored as float32).
    func photo() -> Planar {
        let (h, w) = (FaceWarpVectors.photoH, FaceWarpVectors.photoW)
        let data = (0..<(3 * h * w)).map { (i: Int) -> Float in
            let c = Double(i / (h * w)), y = Double((i / w) % h), x = Double(i % w)
            return Float(0.5 + 0.45 * sin(0.37 * x + 0.23 * (c + 1) * y + c))
        }
        return Planar(c: 3, h: h, w: w, data: data)
    }

    func crop(_ n: Int) -> Planar {
        let data = (0..<(3 * n * n)).map { (i: Int) -> Float in
            let c = Double(i / (n * n)), y = Double((i / n) % n), x = Double(i % n)
            return Float(0.5 + 0.4 * cos(0.9 * x - 0.5 * y + 2 * c))
        }
        return Planar(c: 3, h: n, w: n, data: data)
    }

    // grid_sample computes its coordinates in float32, this port in float64: a few 1e-6 apart at most.
    let tolerance: Float = 2e-5

    func assertClose(_ got: [Float], _ expected: [Float], _ what: String) {
        XCTAssertEqual(got.count, expected.count, what)
        let worst = zip(got, expected).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, tolerance, what)
    }

    func testAlignedCropsMatchPython() {
        for (size, expected) in [(FaceWarpVectors.upSize, FaceWarpVectors.upAligned),
                                 (FaceWarpVectors.downSize, FaceWarpVectors.downAligned)] {
            let m = FaceAlign.alignment(FaceWarpVectors.points, size: size)
            assertClose(FaceWarp.warp(photo(), m, outH: size, outW: size).data, expected, "\(size) px crop")
        }
    }

    func testPastedCropsMatchPython() {
        for (size, expected) in [(FaceWarpVectors.upSize, FaceWarpVectors.upPasted),
                                 (FaceWarpVectors.downSize, FaceWarpVectors.downPasted)] {
            var canvas = photo()
            let mask = Planar(c: 1, h: size, w: size, data: FaceAlign.featherMask(size))
            FaceWarp.paste(&canvas, crop(size), FaceAlign.alignment(FaceWarpVectors.points, size: size), mask: mask)
            assertClose(canvas.data, expected, "\(size) px crop")
        }
    }

    func testWholeSrPhotoMatchesPython() throws {
        let cropSize = FaceAlign.inputSize(prepare: "upsample8", imageSize: 256)
        let face = Face(points: FaceWarpVectors.points, width: 15)
        let result = try FacePhoto.restore(photo(), faces: [face], cropSize: cropSize) { crop in
            let input = try FacePhoto.prepare(crop, prepare: "upsample8", imageSize: 256)
            return Planar(c: 3, h: 256, w: 256, data: input.data.map { 1 - $0 })
        }
        XCTAssertEqual(result.faces, 1)
        XCTAssertEqual(Set(result.ms.keys), ["align", "restore", "paste"])
        assertClose(result.image.data, FaceWarpVectors.sr, "sr photo")
    }

    func testVisionPointsBecomeImagePixelsWithYDown() {
        // A face box over the image's lower-left quarter (Vision's origin is the lower left): its box-normalized
        // point (0.5, 0.5) is the quarter's centre, which in y-down pixels of a 200 x 100 image is (50, 75).
        let box = FacePhoto.NormalizedBox(x: 0, y: 0, width: 0.5, height: 0.5)
        let (x, y) = FacePhoto.pixel((0.5, 0.5), in: box, width: 200, height: 100)
        XCTAssertEqual(x, 50, accuracy: 1e-12)
        XCTAssertEqual(y, 75, accuracy: 1e-12)
    }

    func testVisionFaceTakesTheEyeOnThePicturesLeftFirst() {
        let box = FacePhoto.NormalizedBox(x: 0.25, y: 0.25, width: 0.5, height: 0.5)
        let rightOfPicture = [(0.7, 0.7), (0.8, 0.7)], leftOfPicture = [(0.2, 0.7), (0.3, 0.7)]
        let face = FacePhoto.fromVision(box: box, leftEye: rightOfPicture, rightEye: leftOfPicture,
                                        noseCrest: [(0.5, 0.6), (0.5, 0.45)], outerLips: [(0.3, 0.2), (0.7, 0.2)],
                                        allPoints: [(0, 0.5), (1, 0.5)], width: 400, height: 400)
        XCTAssertEqual(face.points[0], (0.25 + 0.25 * 0.5) * 400, accuracy: 1e-9)  // the picture's left eye first
        XCTAssertEqual(face.points[5], (1 - (0.25 + 0.45 * 0.5)) * 400, accuracy: 1e-9)  // nose tip: lowest point
        XCTAssertEqual(face.width, 200, accuracy: 1e-9)
    }

    func testSmallFacesAreDroppedAndTheLargestComesFirst() throws {
        let faces = [40.0, 20.0, 90.0].map { Face(points: [Double](repeating: 0, count: 10), width: $0) }
        XCTAssertEqual(try FacePhoto.select(faces).map(\.width), [90, 40])
        XCTAssertThrowsError(try FacePhoto.select(faces, minFace: 100)) { error in
            XCTAssertTrue("\(error)".contains("Aligned crop"), "\(error)")
        }
    }
}
