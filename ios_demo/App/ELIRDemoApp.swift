import ELIRKit
import SwiftUI

/// Demo app; launched with `--benchmark ...` arguments it runs one benchmark headless (see BenchmarkMode).
@main
struct ELIRDemoApp: App {
    @StateObject private var benchmark = BenchmarkMode.fromLaunchArguments()

    var body: some Scene {
        WindowGroup {
            if let benchmark = benchmark.request {
                BenchmarkView(request: benchmark)
            } else {
                ContentView()
            }
        }
    }
}

/// Where pushed artifacts and results live: the app's Documents (UIFileSharingEnabled, devicectl appDataContainer).
enum AppFiles {
    static var documents: URL { FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0] }
    static var models: URL { documents.appendingPathComponent("models", isDirectory: true) }
    static var results: URL { documents.appendingPathComponent("results", isDirectory: true) }

    /// Cards in Documents/models and the app bundle's Models/ folder.
    static func cards() -> [ModelCard] {
        let fm = FileManager.default
        let pushed = (try? fm.contentsOfDirectory(at: models, includingPropertiesForKeys: nil)) ?? []
        let bundled = Bundle.main.urls(forResourcesWithExtension: "json", subdirectory: "Models") ?? []
        return (pushed + bundled).filter { $0.pathExtension == "json" }.compactMap { try? ModelCard.load($0) }
    }
}
