// Two output streams: a progress line for people (rewritten in place on a terminal, plain lines
// otherwise) and metrics for machines (one JSON object per line in the run directory).

import Foundation
import ROPIMFiles

public final class MetricsWriter {
    private let handle: FileHandle
    public let path: String

    /// Starts a new metrics file, or, resuming after step k, keeps the records of steps ≤ k (a killed
    /// run may have logged steps past its last checkpoint) and appends after them.
    public init(path: String, keepingStepsUpTo resumedStep: Int? = nil) throws {
        self.path = path
        var kept = Data()
        if let resumedStep, let old = FileManager.default.contents(atPath: path) {
            for line in old.split(separator: UInt8(ascii: "\n")) {
                guard let rec = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let step = rec["step"] as? Int, step <= resumedStep else { continue }
                kept.append(Data(line)); kept.append(UInt8(ascii: "\n"))
            }
        }
        try AtomicFile.write(kept, to: path)
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    /// Appends one record; keys are written sorted so lines diff cleanly.
    public func write(_ record: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
        handle.write(data)
        handle.write(Data("\n".utf8))
    }
}

public final class Progress {
    public let interactive: Bool
    private var lastLength = 0

    public init(interactive: Bool = isatty(STDOUT_FILENO) != 0) { self.interactive = interactive }

    /// On a terminal rewrites the current line; otherwise prints only when `force`.
    public func update(_ line: String, force: Bool) {
        if interactive {
            let pad = max(0, lastLength - line.count)
            print("\r" + line + String(repeating: " ", count: pad), terminator: "")
            fflush(stdout)
            lastLength = line.count
        } else if force {
            print(line)
            fflush(stdout)
        }
    }

    /// Ends an in-place line and prints a message on its own line.
    public func message(_ s: String) {
        if interactive && lastLength > 0 { print(""); lastLength = 0 }
        print(s)
        fflush(stdout)
    }
}

/// "1.23e-04"-style formatting for learning rates and losses.
func sci(_ x: Double) -> String { String(format: "%.3e", x) }

public enum RunDirectory {
    /// Creates the run directory; refuses one that already holds a finished run so nothing is overwritten.
    public static func create(_ dir: String) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: dir + "/checkpoint.safetensors") {
            throw TrainingError(description: "run directory '\(dir)' already holds a finished run (checkpoint.safetensors); choose another --output or move it away")
        }
        do { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
            throw TrainingError(description: "cannot create run directory '\(dir)': \(error.localizedDescription)")
        }
    }
}
