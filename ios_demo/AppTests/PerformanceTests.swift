import ELIRKit
import ObjectiveC
import XCTest

/// On-device performance tests (run by `xcodebuild test`, see README): every .mlpackage card bundled into the app's
/// Models/ folder, under each compute-unit setting, after a parity check against its reference vectors.  XCTest
/// allows one measured block per test method, so one method per (model, compute units) is added at run time, as
/// ExecuTorch's Apple benchmark app (extension/benchmark/apple, DynamicTestCase) adds one per model.
final class PerformanceTests: XCTestCase {
    static func bundledCards() -> [ModelCard] {
        let urls = Bundle.main.urls(forResourcesWithExtension: "json", subdirectory: "Models") ?? []
        return urls.sorted { $0.path < $1.path }.compactMap { try? ModelCard.load($0) }
            .filter { $0.artifact.format == "mlpackage" }
    }

    override class var defaultTestSuite: XCTestSuite {
        for card in bundledCards() {
            for units in CoreMLEngine.computeUnitNames.keys.sorted() {
                let stem = (card.artifact.file as NSString).deletingPathExtension
                let name = "test_\(String(stem.map { $0.isLetter || $0.isNumber ? $0 : "_" }))_\(units)"
                let body: @convention(block) (PerformanceTests) -> Void = { $0.measurePrediction(card: card, units: units) }
                class_addMethod(self, NSSelectorFromString(name), imp_implementationWithBlock(body), "v@:")
            }
        }
        return super.defaultTestSuite
    }

    func testModelsAreBundled() throws {
        if Self.bundledCards().isEmpty {
            throw XCTSkip("no .mlpackage model cards in the app bundle's Models/ (benchmarks/device/ios.sh bundles them)")
        }
    }

    func measurePrediction(card: ModelCard, units: String) {
        do {
            let engine = try awaitResult { try await CoreMLEngine(card: card, computeUnits: units) }
            let (inputs, expected) = try card.referenceData()
            let psnr = Parity.psnrDb(try engine.run(inputs), expected)
            XCTAssertGreaterThanOrEqual(psnr, card.parity.gateDb, "\(card.artifact.file) on \(units): parity \(psnr) dB")
            try engine.write(inputs)  // the inputs stay in the engine's arrays: the block times inference alone
            let options = XCTMeasureOptions()
            options.iterationCount = 10
            measure(metrics: [XCTClockMetric(), XCTMemoryMetric()], options: options) {
                do { try engine.invoke() } catch { XCTFail("\(card.artifact.file) on \(units): \(error)") }
            }
        } catch {
            XCTFail("\(card.artifact.file) on \(units): \(error)")
        }
    }

    /// Bridges an async initializer into a synchronous test body.
    func awaitResult<T>(_ body: @escaping () async throws -> T) throws -> T {
        var result: Result<T, Error>?
        let done = expectation(description: "async")
        Task {
            do { result = .success(try await body()) } catch { result = .failure(error) }
            done.fulfill()
        }
        wait(for: [done], timeout: 600)
        return try result!.get()
    }
}
