// Test support shared by test targets: a scratch folder per test, and raw safetensors files built from a
// header given as a JSON tree (to write what no correct writer would).

import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A test case with a fresh folder `dir` under the temporary directory, removed after each test.
open class ScratchTestCase: XCTestCase {
    public var dir = ""

    open override func setUp() {
        super.setUp()
        dir = NSTemporaryDirectory() + "ropim-\(type(of: self))-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    open override func tearDown() {
        try? FileManager.default.removeItem(atPath: dir)
        super.tearDown()
    }
}

/// The bytes of a safetensors file whose header is `header` (any JSON tree, padded with spaces to 8 bytes, as
/// the reference writer pads) followed by `data`.
public func safetensorsBytes(header: Any, data: [UInt8]) -> [UInt8] {
    var h = [UInt8](JSONMutator.text(header))
    h += [UInt8](repeating: 0x20, count: (8 - h.count % 8) % 8)
    return withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h + data
}

/// Writes `bytes` to `path` with plain open/write/close: no temporary file and no fsync, so a fuzz test can
/// write thousands of inputs a second (Foundation's Data.write takes milliseconds each on Linux).
public func writeQuickly(_ bytes: [UInt8], to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
    defer { close(fd) }
    let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    guard written == bytes.count else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path]) }
}

/// Exit status and output (stdout and stderr together) of `python args`, with $PYTHON, else python3, from the PATH.
public func runPython(_ args: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"] + args
    return try runToEnd(p)
}

/// Runs the configured process `p` to its end: exit status and output (stdout and stderr together).
public func runToEnd(_ p: Process) throws -> (status: Int32, output: String) {
    let pipe = Pipe()
    p.standardOutput = pipe; p.standardError = pipe
    try p.run()
    let out = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: out, as: UTF8.self))
}
