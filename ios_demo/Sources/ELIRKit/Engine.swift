import Foundation

/// One loaded artifact in one runtime; `run` takes the card's inputs (flat float32) and returns its output.
public protocol Engine: AnyObject {
    var runtimeName: String { get }
    var runtimeVersion: String { get }
    var threads: Int? { get }
    var acceleratorRequested: String { get }
    var acceleratorUsed: String { get }
    var fallbackOccurred: Bool? { get }
    var fallbackDetail: String { get }
    var opPlacement: [String: Int]? { get }
    func run(_ inputs: [[Float]]) throws -> [Float]
}
