import XCTest
@testable import ELIRKit

/// Face alignment against elir_mobile/faces' values (FaceAlignVectors.swift, generated from the Python reference;
/// tests/test_faces.py checks the file is still what Python computes).
final class FaceAlignTests: XCTestCase {
    func testSimilarityMatrixAndInverseMatchPython() {
        for c in FaceAlignVectors.alignments {
            let m = FaceAlign.alignment(c.points, size: c.size)
            let inverse = FaceAlign.invert(m)
            for i in 0..<6 {
                XCTAssertEqual(m[i], c.matrix[i], accuracy: 1e-9, "size \(c.size) matrix[\(i)]")
                XCTAssertEqual(inverse[i], c.inverse[i], accuracy: 1e-7, "size \(c.size) inverse[\(i)]")
            }
        }
    }

    func testFeatheredMaskMatchesPython() {
        for c in FaceAlignVectors.masks {
            let mask = FaceAlign.featherMask(c.size)
            let n = c.size
            for i in 0..<n {
                XCTAssertEqual(mask[(n / 3) * n + i], c.row[i], accuracy: 1e-6, "size \(n) row \(i)")
                XCTAssertEqual(mask[i * n + i], c.diagonal[i], accuracy: 1e-6, "size \(n) diagonal \(i)")
            }
        }
    }

    func testCropSizeFollowsTheTask() {
        for (task, (prepare, imageSize, expected)) in FaceAlignVectors.inputSizes {
            XCTAssertEqual(FaceAlign.inputSize(prepare: prepare, imageSize: imageSize), expected, task)
        }
    }
}
