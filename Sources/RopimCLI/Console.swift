// The command line's swift-log handler: the library targets log through swift-log, and `ropim` prints what
// they log as it always printed it (the message alone, on stdout). Step lines (`Progress.stepLine` in their
// metadata) are rewritten in place on a terminal; in a log only the `.info` ones (every run.log_every-th step)
// are printed, as plain lines.

import Foundation
import Logging
import ROPIMTraining

/// Standard output as people see it: whether it is a terminal, and the in-place line being shown there.
final class Console: @unchecked Sendable {
    let interactive: Bool
    private var lastLength = 0
    private let lock = NSLock()

    init(interactive: Bool = isatty(STDOUT_FILENO) != 0) { self.interactive = interactive }

    /// Prints `line` in place of the shown step line (terminal only).
    func rewrite(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        let pad = max(0, lastLength - line.count)
        print("\r" + line + String(repeating: " ", count: pad), terminator: "")
        fflush(stdout)
        lastLength = line.count
    }

    /// Prints `line` on a line of its own, after ending a shown step line.
    func line(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        if lastLength > 0 { print(""); lastLength = 0 }
        print(line)
        fflush(stdout)
    }
}

struct ConsoleLogHandler: LogHandler {
    let console: Console
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// Everything on a terminal (step lines arrive at `.trace` between the logged ones), `.info` and up otherwise.
    var logLevel: Logger.Level

    init(console: Console) {
        self.console = console
        logLevel = console.interactive ? .trace : .info
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let text = event.message.description
        if event.metadata?[Progress.stepLine] != nil {
            if console.interactive { console.rewrite(text) } else if event.level >= .info { console.line(text) }
        } else if event.level >= .info {
            console.line(text)
        }
    }
}
