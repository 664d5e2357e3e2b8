// The closing report's shell quoting (PretrainReport.swift), checked by the shell itself.

import Foundation
import XCTest
@testable import RopimCLI

/// The closing report's next commands quote their paths: each quoted word, read back by /bin/sh, is the
/// original text (spaces, quotes, $, backquotes, backslashes, an empty word), and plain paths stay as written.
final class ShellQuotingTests: XCTestCase {
    func testQuotedWordsReadBackByTheShellAsWritten() throws {
        XCTAssertEqual(shellQuoted("runs/p/checkpoint.safetensors"), "runs/p/checkpoint.safetensors")
        let words = ["runs/my run", "it's", "a\"b$c`d\\e", "", "tab\there", "new\nline", "*?[x]", "~user", "-dash"]
        for word in words {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "printf %s " + shellQuoted(word)]
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            XCTAssertEqual(String(decoding: out, as: UTF8.self), word, "shellQuoted(\(word.debugDescription)) = \(shellQuoted(word))")
        }
    }
}
