// The one way this project writes a file: to a temporary name in the same folder, flushed, then renamed
// into place, so a reader (or a resumed run) never sees a half-written file.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file could not be written or read; the description names the path and what to do.
public struct FileError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Write-to-temporary, fsync, rename: a reader never sees a half-written file, and a crash mid-write
/// leaves the previous file intact.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: nil) else {
            throw FileError("\(tmp): cannot create file (does the directory exist and is it writable?)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw FileError("\(path): write failed: \(error)")
        }
        guard rename(tmp, path) == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw FileError("\(path): cannot rename \(tmp) into place (errno \(errno))")
        }
    }

    public static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }
}
