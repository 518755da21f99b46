import XCTest
@testable import ELIRKit

/// Values of elir_mobile/noise.py (float32 bit patterns, so the literals are exact); tests/test_kotlin_core.py
/// checks that these literals still are what noise.py computes, and the Android core is tested against it there.
final class NoiseTests: XCTestCase {
    /// (seed, sigma, the first six values of the stream)
    let streams: [(Int64, Double, [UInt32])] = [
        (0, 1.0, [0xbee7cfdd, 0x4029a387, 0xbf7d1529, 0x3e8142cb, 0x3fcccc97, 0x3dc0fd71]),
        (12345, 0.1, [0x3d666af7, 0x3dbcfd69, 0xbd784bb0, 0xbe3e9f85, 0x3da71288, 0xbe096715]),
        (-1, 0.025, [0x3c256fcb, 0xbd1f8518, 0x3c1aac4c, 0xb8a1d212, 0x3c93d101, 0x3ccf2b7b]),
    ]

    func testStreamsMatchNoisePy() {
        for (seed, sigma, bits) in streams {
            for (i, b) in bits.enumerated() {
                let want = Float(bitPattern: b)
                let got = Noise.value(seed: seed, sigma: sigma, index: UInt64(i))
                XCTAssertLessThanOrEqual(abs(got - want), want.ulp, "seed \(seed) value \(i): \(got) vs \(want)")
            }
        }
    }

    /// noise.latent_noise((1, 4, 75, 93), 9, 0.1)[0, :, 24:56, 43:75]: the window of the tile at pixel (192, 344).
    func testWindowIsTheSliceRunTiledPasses() {
        let w = Noise.window(seed: 9, sigma: 0.1, channels: 4, lh: 75, lw: 93, ly: 24, lx: 43, t: 32)
        let channel1Row0: [UInt32] = [0xbcbe9e58, 0xbda7c46d, 0x3d0effaf, 0x3d0e8617]
        let channel3Row31End: [UInt32] = [0x3d27d4b1, 0xbd6ec829, 0x3de167fd, 0x3d91c16a]
        for i in 0..<4 {
            XCTAssertEqual(w[(1 * 32 + 0) * 32 + i], Float(bitPattern: channel1Row0[i]), accuracy: Float(bitPattern: channel1Row0[i]).ulp)
            XCTAssertEqual(w[(3 * 32 + 31) * 32 + 28 + i], Float(bitPattern: channel3Row31End[i]),
                           accuracy: Float(bitPattern: channel3Row31End[i]).ulp)
        }
    }

    func testGeneratorName() { XCTAssertEqual(Noise.generator, "elir-noise-1") }
}
