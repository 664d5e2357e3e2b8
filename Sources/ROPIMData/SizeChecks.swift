// Sizes read from file headers are untrusted: before anything is allocated they are checked for
// overflow and against what the file can really hold. Shared by IDX, CIFAR, the packed cache and the decoders.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum SizeCheck {
    /// deflate's best case is a 258-byte match in 2 bits: no zlib/gzip stream inflates to more than
    /// 1032 × its compressed size (plus a little for headers). A header claiming more is damaged.
    static let deflateMaxRatio = 1032

    /// The most bytes `compressed` bytes of deflate data can inflate to.
    static func maxInflated(_ compressed: Int) -> Int {
        let (p, overflow) = compressed.multipliedReportingOverflow(by: deflateMaxRatio)
        return overflow ? Int.max : p.addingReportingOverflow(4096).overflow ? Int.max : p + 4096
    }

    /// The product of `factors` (all ≥ 0), or nil when it does not fit in an Int.
    static func product(_ factors: [Int]) -> Int? {
        var p = 1
        for f in factors {
            let (q, overflow) = p.multipliedReportingOverflow(by: f)
            if overflow { return nil }
            p = q
        }
        return p
    }

    /// The sum of `terms` (all ≥ 0), or nil when it does not fit in an Int.
    static func sum(_ terms: [Int]) -> Int? {
        var s = 0
        for t in terms {
            let (q, overflow) = s.addingReportingOverflow(t)
            if overflow { return nil }
            s = q
        }
        return s
    }

    /// What is at `path`: nil when nothing is, else whether it is a regular file, its size and modification time.
    static func info(_ path: String) -> FileInfo? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let kind = st.st_mode & S_IFMT
        #if os(Linux)
        let mtime = st.st_mtim
        #else
        let mtime = st.st_mtimespec
        #endif
        return FileInfo(regular: kind == S_IFREG, directory: kind == S_IFDIR, size: Int(st.st_size),
                        mtimeSeconds: Int(mtime.tv_sec), mtimeNanoseconds: Int(mtime.tv_nsec))
    }

    struct FileInfo {
        var regular: Bool
        var directory: Bool
        var size: Int
        var mtimeSeconds: Int
        var mtimeNanoseconds: Int
    }

    /// Size in bytes of the regular file at `path`; a DataError naming it when it is missing or not a file.
    /// `what` names the file's role, with its article, for the message ("an image file").
    static func regularFileSize(_ path: String, what: String, hint: String) throws -> Int {
        guard let s = info(path) else {
            let why = String(cString: strerror(errno))
            throw DataError("\(path): cannot read it as \(what) (\(why)); \(hint)")
        }
        guard s.regular else {
            throw DataError("\(path): is \(s.directory ? "a folder" : "not a regular file"), not \(what); \(hint)")
        }
        return s.size
    }
}
