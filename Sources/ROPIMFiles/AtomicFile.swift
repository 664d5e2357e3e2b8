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
/// leaves the previous file intact (its temporary, `PATH.tmp-<pid>-<n>`, is removed by the next run that
/// claims the folder).
public enum AtomicFile {
    nonisolated(unsafe) private static var counter = 0

    /// Writes `path` through `body`, which gets a handle on a fresh temporary file in the same folder; after
    /// `body` returns, the file is flushed to disk and renamed into place. If `body` or the write fails the
    /// temporary is removed and nothing at `path` changes. Errors of `body` pass through; I/O errors become a
    /// `FileError` naming the path.
    public static func write(to path: String, _ body: (FileHandle) throws -> Void) throws {
        counter += 1
        let tmp = path + ".tmp-\(getpid())-\(counter)"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw FileError("\(tmp): cannot create file (\(String(cString: strerror(errno)))); check that the folder exists and is writable")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try body(handle)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: tmp)
            let ns = error as NSError
            if ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain {
                throw FileError("\(path): write failed (\(ns.localizedDescription)); check free disk space and permissions")
            }
            throw error
        }
        guard rename(tmp, path) == 0 else {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: tmp)
            throw FileError("\(path): cannot rename \(tmp) into place (\(why))")
        }
    }

    public static func write(_ data: Data, to path: String) throws { try write(to: path) { try $0.write(contentsOf: data) } }

    public static func write(_ text: String, to path: String) throws { try write(Data(text.utf8), to: path) }
}

/// Folders a command writes into.
public enum Folders {
    /// Creates `path` and its parents. A failure says why in words (a part of the path is a file, a folder is
    /// not writable) instead of Foundation's error code; `what` names the folder's role ("the run directory")
    /// and `fix` what to do ("pass another --output").
    public static func create(_ path: String, what: String, fix: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw FileError("\(path): cannot create \(what): \(obstacle(path) ?? "\(error.localizedDescription)"); \(fix)")
        }
    }

    /// What stands in the way of creating `path`: the nearest part of it that exists but is a file, or is a
    /// folder this process may not write into.
    static func obstacle(_ path: String) -> String? {
        let fm = FileManager.default
        var part = path
        while !part.isEmpty {
            var isFolder: ObjCBool = false
            if fm.fileExists(atPath: part, isDirectory: &isFolder) {
                if !isFolder.boolValue { return "\(part == path ? "it" : part) is a file, not a folder" }
                return fm.isWritableFile(atPath: part) ? nil : "\(part) is not writable"
            }
            let parent = (part as NSString).deletingLastPathComponent
            if parent == part { return nil }
            part = parent
        }
        return nil
    }
}
