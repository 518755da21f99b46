// swift-tools-version:5.9
// ELIRKit: Core ML loading (compute units, compile-once cache), CVPixelBuffer I/O and tiling, parity against the
// export pipeline's reference vectors, statistics and the benchmark record, MLComputePlan op placement.
// No third-party dependency: the optional ExecuTorch engine lives in the demo app (see project.yml).
import PackageDescription

let package = Package(
    name: "ELIRKit",
    platforms: [.iOS(.v17), .macOS(.v14)],  // as the app (ExecuTorch needs iOS 17)
    products: [.library(name: "ELIRKit", targets: ["ELIRKit"])],
    targets: [
        .target(name: "ELIRKit"),
        .testTarget(name: "ELIRKitTests", dependencies: ["ELIRKit"]),
    ]
)
