import ELIRKit
import XCTest

/// On-device performance tests (run by `xcodebuild test`, see README): every model card bundled into the app's
/// Models/ folder is measured with XCTClockMetric and XCTMemoryMetric per compute-unit setting, after a parity
/// check against its reference vectors.  Without bundled models the tests skip, saying so.
final class PerformanceTests: XCTestCase {
    func cards() throws -> [ModelCard] {
        let urls = Bundle.main.urls(forResourcesWithExtension: "json", subdirectory: "Models") ?? []
        let cards = try urls.sorted { $0.path < $1.path }.map { try ModelCard.load($0) }.filter { $0.artifact.format == "mlpackage" }
        if cards.isEmpty { throw XCTSkip("no .mlpackage model cards in the app bundle's Models/ (benchmarks/device/ios.sh bundles them)") }
        return cards
    }

    func measurePrediction(units: String) throws {
        for card in try cards() {
            let engine = try awaitResult { try await CoreMLEngine(card: card, computeUnits: units) }
            let (inputs, expected) = try card.referenceData()
            let psnr = Parity.psnrDb(try engine.run(inputs), expected)
            XCTAssertGreaterThanOrEqual(psnr, card.parity.gateDb, "\(card.artifact.file) on \(units): parity \(psnr) dB")
            let options = XCTMeasureOptions()
            options.iterationCount = 10
            measure(metrics: [XCTClockMetric(), XCTMemoryMetric()], options: options) {
                _ = try? engine.run(inputs)
            }
        }
    }

    func testPredictionAll() throws { try measurePrediction(units: "all") }
    func testPredictionCpuAndNeuralEngine() throws { try measurePrediction(units: "cpuAndNeuralEngine") }
    func testPredictionCpuAndGPU() throws { try measurePrediction(units: "cpuAndGPU") }
    func testPredictionCpuOnly() throws { try measurePrediction(units: "cpuOnly") }

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
