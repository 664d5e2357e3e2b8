// The console handler as people see it: on a terminal (a pseudo-terminal from util-linux `script`) every step line
// is rewritten in place; in a pipe only the first, every run.log_every-th and the last step print, as plain lines.

import Foundation
import XCTest

final class ConsoleTests: XCTestCase {
    func testStepLinesInPlaceOnATerminalAndPlainInAPipe() throws {
        let s = try Scratch()
        let args = ["pretrain", "--epochs", "1", "--set", "run.report=false", "--set", "run.log_every=3"] + Tiny.flags
        let piped = try s.ok(args + ["--output", "runs/pipe"])
        XCTAssertFalse(piped.contains("\r"), piped)
        let steps = piped.split(separator: "\n").filter { $0.hasPrefix("epoch 1/1  step ") }
        XCTAssertEqual(steps.map { $0.split(separator: " ")[3] }, ["1/4", "3/4", "4/4"], piped)
        XCTAssert(steps.allSatisfy { $0.contains(" left)  run ") && $0.hasSuffix(" left)") }, piped)

        guard let binary = Scratch.binary, FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            throw XCTSkip("util-linux script (a pseudo-terminal) or the ropim binary is missing")
        }
        let command = ([binary] + args + ["--output", "runs/tty"]).map { "'\($0)'" }.joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qec", command, "/dev/null"]
        p.currentDirectoryURL = URL(fileURLWithPath: s.dir)
        let out = Pipe()
        p.standardOutput = out; p.standardInput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, text)
        // All four steps, each starting with a carriage return on the same terminal line.
        let line = text.components(separatedBy: "\n").first { $0.contains("step 1/4") } ?? ""
        XCTAssertEqual(line.components(separatedBy: "\repoch 1/1  step ").count - 1, 4, text.debugDescription)
        XCTAssert(text.contains("\ndone: 4 steps") || text.contains("\r\ndone: 4 steps"), text.debugDescription)
    }
}
