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

    /// Appends one record; keys are written sorted so lines diff cleanly. A failed write (disk full) is an
    /// error naming the file; a record with a non-finite number is an error naming its keys.
    public func write(_ record: [String: Any]) throws {
        let bad = record.filter { ($0.value as? Double).map { !$0.isFinite } ?? false }.keys.sorted()
        guard bad.isEmpty, let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else {
            throw TrainingError(description: "\(path): cannot record \(bad.isEmpty ? "a metrics line" : "non-finite " + bad.joined(separator: ", ")): \(record)")
        }
        do { try handle.write(contentsOf: data + Data("\n".utf8)) } catch {
            throw TrainingError(description: "\(path): cannot append metrics (\(error.localizedDescription)); free disk space, then resume the run from its last checkpoint")
        }
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
    /// Creates the run directory and claims it (`claim`); refuses one that already holds a finished run so
    /// nothing is overwritten.
    public static func create(_ dir: String) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: dir + "/checkpoint.safetensors") {
            throw TrainingError(description: "run directory '\(dir)' already holds a finished run (checkpoint.safetensors); choose another --output or move it away")
        }
        try Folders.create(dir, what: "the run directory", fix: "pass another --output")
        try claim(dir)
    }

    nonisolated(unsafe) private static var held: [String: Int32] = [:]

    /// Makes this process the only writer of `dir` until it exits: an exclusive lock on `dir/.lock`
    /// (flock: released by the kernel when the process ends, even by kill -9) holding our pid. A second
    /// run on the same directory stops here with the first one's pid. Then removes temporaries left by
    /// writes that were killed midway (`*.tmp-<pid>`): no live process owns them any more.
    public static func claim(_ dir: String) throws {
        let path = (dir as NSString).appendingPathComponent(".lock")
        if held[path] != nil { return }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TrainingError(description: "cannot create \(path): \(String(cString: strerror(errno))); check that the run directory is writable")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buf, 31)
            close(fd)
            let pid = String(decoding: buf.prefix(Swift.max(n, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw TrainingError(description: "run directory '\(dir)' is in use by another ropim process (pid \(pid.isEmpty ? "unknown" : pid)); wait for it to finish, stop it, or choose another --output")
        }
        let me = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, me, me.count, 0)
        held[path] = fd
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.contains(".tmp-") {
            try? fm.removeItem(atPath: (dir as NSString).appendingPathComponent(name))
        }
    }
}
