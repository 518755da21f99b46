import XCTest
@testable import ELIRKit

/// The same known values as tests/test_device_stats.py, native/tests/unit_tests.cpp and the Android StatsTest.
final class StatsTests: XCTestCase {
    struct Known { let xs: [Double]; let median, p90, min, max, mean, trimmed: Double }

    let known: [Known] = [
        Known(xs: [7.5], median: 7.5, p90: 7.5, min: 7.5, max: 7.5, mean: 7.5, trimmed: 7.5),
        Known(xs: [5, 1, 4, 2, 3], median: 3, p90: 4.6, min: 1, max: 5, mean: 3, trimmed: 3),
        Known(xs: [3, 1, 2, 100, 4, 5, 6, 7, 8, 9], median: 5.5, p90: 18.1, min: 1, max: 100, mean: 14.5, trimmed: 5.5),
        Known(xs: (1...19).map(Double.init) + [1000], median: 10.5, p90: 18.1, min: 1, max: 1000, mean: 59.5, trimmed: 10.5),
        Known(xs: (1...49).map(Double.init) + [500], median: 25.5, p90: 45.1, min: 1, max: 500, mean: 34.5, trimmed: 25.5),
    ]

    func testKnownValues() throws {
        for k in known {
            let s = try Stats.summarize(k.xs)
            XCTAssertEqual(s.n, k.xs.count)
            XCTAssertEqual(s.median, k.median, accuracy: 1e-9)
            XCTAssertEqual(s.p90, k.p90, accuracy: 1e-9)
            XCTAssertEqual(s.min, k.min)
            XCTAssertEqual(s.max, k.max)
            XCTAssertEqual(s.mean, k.mean, accuracy: 1e-9)
            XCTAssertEqual(s.trimmedMean1090, k.trimmed, accuracy: 1e-9)
        }
    }

    func testRejectsBadSamples() {
        XCTAssertThrowsError(try Stats.summarize([]))
        XCTAssertThrowsError(try Stats.summarize([1, -1]))
        XCTAssertThrowsError(try Stats.summarize([.nan]))
    }

    func testParityKnownValues() {
        let half = [Float](repeating: 0.5, count: 12), threeQ = [Float](repeating: 0.75, count: 12)
        XCTAssertEqual(Parity.psnrDb(half, threeQ), -10 * log10(0.0625), accuracy: 1e-9)
        XCTAssertEqual(Parity.maxAbsErr(half, threeQ), 0.25)
        XCTAssertEqual(Parity.psnrDb([1.5, -0.25], [1.0, 0.0]), Parity.psnrCapDb)
        XCTAssertEqual(Parity.maxAbsErr([1.5, -0.25], [1.0, 0.0]), 0.5)
    }

    func testDecodeSizeCapsWhatThePreparationGrows() {
        XCTAssertTrue(Restorer.decodeSize(task: "denoising", width: 400, height: 300) == (400, 300))
        let (w, h) = Restorer.decodeSize(task: "bsr", width: 4000, height: 3000)
        XCTAssertLessThanOrEqual(w * 4 * h * 4, Restorer.maxPreparedPixels)
    }

    func testTilingMatchesPython() {
        // Values from elir_mobile/tiling.py.
        XCTAssertEqual(Tiling.tileStarts(600, tile: 256, overlap: 64), [0, 192, 344])
        XCTAssertEqual(Tiling.tileStarts(744, tile: 256, overlap: 64), [0, 192, 384, 488])
        XCTAssertTrue(Tiling.paddedSize(597, 300, tile: 256) == (600, 304))
        let h = 70, w = 45
        let img = (0..<(3 * h * w)).map { Float($0 % 97) / 96 }
        let out = Tiling.runTiled(img, h: h, w: w, tile: 32) { crop, _, _ in crop }
        for i in 0..<img.count { XCTAssertEqual(out[i], img[i], accuracy: 1e-6) }
    }

    func testCardAndRecord() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let card = """
        {"schema_version": 2, "task": "sr", "K": 3, "sigma_s": 0.1, "noise_mode": "fixed", "image_size": 64,
         "artifact": {"file": "elir_sr_coreml_fp16.mlpackage", "format": "mlpackage", "backend": "mlprogram",
                      "precision": "fp16", "compression": null, "size_bytes": 1234,
                      "sha256": "\(String(repeating: "a", count: 64))",
                      "methods": {"forward": {"inputs": ["image"], "outputs": ["restored"], "description": "all"}}},
         "inputs": [{"name": "image", "shape": [1, 3, 64, 64], "layout": "NCHW", "dtype": "float32", "kind": "tensor",
                     "range": [0, 1], "quantization": null}],
         "outputs": [{"name": "restored", "shape": [1, 3, 64, 64], "layout": "NCHW", "dtype": "float32",
                      "kind": "tensor", "range": [0, 1], "quantization": null}],
         "parity": {"runtime_kind": "emulated", "min_psnr_db": 60.0, "gate_db": 45.0, "passed": true},
         "placement": {"measure": "neural_engine_mac_share", "definition": "audit", "share": 1.0, "details": {}},
         "reference_vectors": {"dtype": "float32", "byte_order": "little",
           "inputs": [{"file": "m.input0.f32", "shape": [1, 3, 64, 64], "layout": "NCHW"}],
           "output": {"file": "m.expected.f32", "shape": [1, 3, 64, 64], "layout": "NCHW"}}}
        """
        let url = dir.appendingPathComponent("m.json")
        try card.write(to: url, atomically: true, encoding: .utf8)
        let c = try ModelCard.load(url)
        XCTAssertEqual(c.task, "sr")
        XCTAssertEqual(c.referenceVectors.inputs[0].count, 12288)
        let run = RunResult(runtimeName: "coreml", runtimeVersion: "Core ML", threads: nil, acceleratorRequested: "all",
                            acceleratorUsed: "cpu+neural_engine", fallbackOccurred: false, fallbackDetail: "plan",
                            opPlacement: ["cpu": 3, "neural_engine": 90], loadMs: 10, firstRunMs: 5, warmup: 1,
                            samplesMs: [3, 1, 2], inputMs: 0.4, outputMs: nil, peakFootprintMb: 100, thermalBefore: ThermalReading(state: "nominal"),
                            thermalAfter: nil, cooldownS: nil, psnrDb: 44.9, maxAbsErr: 0.01, gateDb: 45)
        let data = try BenchmarkRecord.json(card: c, device: DeviceDescription(maker: "Apple", model: "iPhone16,1", soc: "A17 Pro",
                                                                               os: "iOS", osVersion: "18.1.0", abi: "arm64"),
                                            run: run, timestamp: "2026-01-01T00:00:00Z")
        let back = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let parity = back["parity"] as! [String: Any]
        XCTAssertEqual(parity["passed"] as? Bool, false)
        let thermal = back["thermal"] as! [String: Any]
        XCTAssertTrue(thermal["after"] is NSNull)
        let warm = (back["timing"] as! [String: Any])["warm"] as! [String: Any]
        XCTAssertEqual(warm["median"] as? Double, 2)

        XCTAssertEqual(c.placementShare(runtime: "coreml"), nil)
        let timing = back["timing"] as! [String: Any]
        XCTAssertEqual(timing["input_ms"] as? Double, 0.4)
        XCTAssertTrue(timing["output_ms"] is NSNull)

        let v1 = card.replacingOccurrences(of: "\"schema_version\": 2", with: "\"schema_version\": 1")
        try v1.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelCard.load(url)) { error in
            XCTAssertTrue("\(error)".contains("card schema_version 1, this app reads 2"), "\(error)")
        }

        let missing = card.replacingOccurrences(of: "\"precision\": \"fp16\",", with: "")
        try missing.write(to: url, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try ModelCard.load(url)) { error in
            XCTAssertTrue("\(error)".contains("artifact.precision is missing"), "\(error)")
        }
    }
}
