import Foundation

/// One loaded artifact in one runtime.  A call is split so a benchmark times inference alone: `write` copies the
/// card's inputs (flat float32, the card's layouts) into the runtime's input values, `invoke` runs the model, `read`
/// returns the output as float32.
public protocol Engine: AnyObject {
    var runtimeName: String { get }
    var runtimeVersion: String { get }
    var threads: Int? { get }
    var acceleratorRequested: String { get }
    var acceleratorUsed: String { get }
    var fallbackOccurred: Bool? { get }
    var fallbackDetail: String { get }
    var opPlacement: [String: Int]? { get }
    func write(_ inputs: [[Float]]) throws
    func invoke() throws
    func read() throws -> [Float]
}

public extension Engine {
    /// One model call: the demo's tiles.
    func run(_ inputs: [[Float]]) throws -> [Float] {
        try write(inputs)
        try invoke()
        return try read()
    }
}
