// A packed cache: decoded, resized uint8 images of a folder in one file, memory-mapped, so that a large
// JPEG dataset is decoded once instead of every epoch and never has to fit in memory.
//
// Layout (little-endian): "ROPIMPK1", u32 version, u32 channels, u32 height, u32 width, u64 count,
// u32 classes (0 = unlabelled), u32 metaBytes, meta JSON {source, files, fingerprint, classNames}, zero
// padding to a 64-byte boundary, count × C×H×W pixels, then count × i32 labels when labelled.
// Version 2 added the fingerprint (every file's path, size and modification time).

import Foundation
import ROPIMFiles
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class PackedCache: ImageSource, @unchecked Sendable {
    public let path: String
    public let count: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public let classes: Int?
    public let meta: Meta
    public var source: String { meta.source }
    // Read-only mapping: safe to share between threads.
    let base: UnsafeMutableRawPointer
    let length: Int
    let pixelsOffset: Int

    public struct Meta: Codable, Sendable {
        /// The folder the images came from.
        public var source: String
        /// Files the scan found (kept + skipped): a changed folder invalidates the cache.
        public var files: Int
        /// Digest of every scanned file's path, size and modification time (`fingerprint(of:)`):
        /// a file replaced, rewritten or touched invalidates the cache.
        public var fingerprint: String
        public var classNames: [String]?
    }

    static let magic = Array("ROPIMPK1".utf8)
    /// What every ropim cache file starts with, whatever its version: a file without it is not ours to overwrite.
    static let family = Array("ROPIMPK".utf8)
    static let version: UInt32 = 2
    /// Sanity bounds on header fields (far above any real cache), checked before any size arithmetic.
    static let maxSide = 1 << 16, maxClasses = 1 << 24
    static let fixedHeader = 8 + 4 * 4 + 8 + 4 * 2

    var imageBytes: Int { channels * height * width }

    /// Maps and checks a cache file.
    public convenience init(path: String) throws {
        try self.init(path: path, whenDamaged: "delete it to rebuild it from the image folder")
    }

    /// Maps and checks a cache file; `whenDamaged` ends the message of a check that fails.
    init(path: String, whenDamaged rebuild: String) throws {
        self.path = path
        let path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError("\(path): cannot open the packed cache (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DataError("\(path): cannot stat the packed cache") }
        let length = Int(st.st_size)
        self.length = length
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw DataError("\(path): is not a regular file, so not a packed cache; point data.cache at a file")
        }
        guard length >= PackedCache.fixedHeader else { throw DataError("\(path): \(length) bytes is too short for a packed cache; \(rebuild)") }
        guard let m = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw DataError("\(path): cannot memory-map the packed cache (\(String(cString: strerror(errno))))")
        }
        base = m
        func u32(_ at: Int) -> Int { Int(UInt32(littleEndian: m.loadUnaligned(fromByteOffset: at, as: UInt32.self))) }
        func fail(_ s: String) -> DataError { munmap(m, length); return DataError("\(path): \(s); \(rebuild)") }
        guard (0..<8).allSatisfy({ m.load(fromByteOffset: $0, as: UInt8.self) == PackedCache.magic[$0] }) else {
            throw fail("not a ropim packed cache (wrong magic)")
        }
        guard u32(8) == Int(PackedCache.version) else { throw fail("packed cache version \(u32(8)), this build reads \(PackedCache.version)") }
        channels = u32(12); height = u32(16); width = u32(20)
        count = Int(clamping: UInt64(littleEndian: m.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        let c = u32(32), metaBytes = u32(36)
        classes = c > 0 ? c : nil
        guard [1, 3].contains(channels) else { throw fail("damaged header: \(channels) channels (1 or 3 expected)") }
        guard (1...PackedCache.maxSide).contains(height), (1...PackedCache.maxSide).contains(width) else {
            throw fail("damaged header: image size \(height)×\(width) (1…\(PackedCache.maxSide) expected)")
        }
        guard c <= PackedCache.maxClasses else { throw fail("damaged header: \(c) classes") }
        guard count > 0, metaBytes <= length - PackedCache.fixedHeader else {
            throw fail("damaged header: \(count) images, \(metaBytes) bytes of meta data in a \(length)-byte file")
        }
        let metaData = Data(bytes: m + PackedCache.fixedHeader, count: metaBytes)
        guard let decoded = try? JSONDecoder().decode(Meta.self, from: metaData) else { throw fail("damaged header (meta)") }
        guard decoded.classNames == nil || decoded.classNames!.count == c else {
            throw fail("damaged header: \(decoded.classNames!.count) class names for \(c) classes")
        }
        meta = decoded
        // pixelsOffset is assigned last: a throw after full initialization would run deinit (a second munmap).
        // count comes from the file, so the expected size is computed with overflow checks before it is compared.
        let pixelsOffset = PackedCache.align(PackedCache.fixedHeader + metaBytes)
        let imageBytes = channels * height * width
        guard let pixelBytes = SizeCheck.product([count, imageBytes]), let labelBytes = SizeCheck.product([count, classes != nil ? 4 : 0]),
              let expected = SizeCheck.sum([pixelsOffset, pixelBytes, labelBytes]), length == expected else {
            throw fail("\(length) bytes but the header describes \(count) images of \(channels)×\(height)×\(width)"
                + "\(classes != nil ? " with labels" : "") (an interrupted build?)")
        }
        if let classes {
            let labelsAt = pixelsOffset + pixelBytes
            for i in 0..<count {
                let l = Int32(littleEndian: m.loadUnaligned(fromByteOffset: labelsAt + 4 * i, as: Int32.self))
                if !(0..<Int32(classes)).contains(l) { throw fail("label of image \(i) outside 0..<\(classes)") }
            }
        }
        self.pixelsOffset = pixelsOffset
    }

    deinit { munmap(base, length) }

    static func align(_ n: Int) -> Int { (n + 63) / 64 * 64 }

    public func label(_ i: Int) -> Int32? {
        guard classes != nil else { return nil }
        return Int32(littleEndian: base.loadUnaligned(fromByteOffset: pixelsOffset + count * imageBytes + 4 * i, as: Int32.self))
    }

    public func withImage<R>(_ i: Int, _ body: (ImageView) throws -> R) throws -> R {
        precondition(i >= 0 && i < count, "image \(i) outside 0..<\(count)")
        let p = UnsafePointer<UInt8>((base + pixelsOffset + i * imageBytes).assumingMemoryBound(to: UInt8.self))
        return try body(ImageView(pixels: p, channels: channels, height: height, width: width))
    }

    /// Decodes the scanned files (`chunk` at a time on `threads` threads, so memory stays bounded) into a
    /// cache file at `path`, written under a temporary name and renamed at the end. Bad files are an error
    /// unless `skipBad` (then listed in the report). An existing file at `path` that is not a ropim cache
    /// is an error: it is never replaced.
    @discardableResult
    public static func build(_ scan: ImageFolderScan, size: Int, channels: Int, to path: String, skipBad: Bool = false,
                             threads: Int = 1, chunk: Int = 512) throws -> SkipReport {
        try checkReplaceable(path)
        // Fingerprinted before decoding: a file that changes during the build makes the next run rebuild.
        let meta = Meta(source: scan.root, files: scan.files.count, fingerprint: fingerprint(of: scan.files),
                        classNames: scan.classNames)
        let metaData = try JSONEncoder().encode(meta)
        var report = scan.report
        try AtomicFile.write(to: path) { h in
            var labels = [Int32]()
            var kept = 0
            var header = header(channels: channels, size: size, count: 0, classes: scan.classNames?.count ?? 0, metaBytes: metaData.count)
            header += metaData
            header += Data(count: align(header.count) - header.count)
            try h.write(contentsOf: header)
            var start = 0
            while start < scan.files.count {
                let end = min(start + chunk, scan.files.count)
                let part = ImageFolderScan(root: scan.root, files: Array(scan.files[start..<end]),
                                           labels: scan.labels.map { Array($0[start..<end]) }, classNames: scan.classNames)
                // Every file of a chunk bad is only fatal for the whole build, checked below.
                let decoded: (dataset: ImageDataset, report: SkipReport)
                do { decoded = try ImageFolder.decodeAll(part, size: size, channels: channels, skipBad: skipBad, threads: threads) } catch {
                    guard skipBad else { throw error }
                    report.skipped += part.files.map { SkippedFile(path: $0, reason: "\(error)") }
                    start = end
                    continue
                }
                report.skipped += decoded.report.skipped
                try h.write(contentsOf: Data(decoded.dataset.pixels))
                labels += decoded.dataset.labels ?? []
                kept += decoded.dataset.count
                start = end
            }
            guard kept > 0 else { throw DataError("\(scan.root): no image could be decoded; nothing to cache") }
            if scan.labels != nil { try h.write(contentsOf: labels.withUnsafeBytes { Data($0) }) }
            try h.seek(toOffset: 0)
            try h.write(contentsOf: PackedCache.header(channels: channels, size: size, count: kept,
                                                      classes: scan.classNames?.count ?? 0, metaBytes: metaData.count))
        }
        return report
    }

    /// Throws unless `path` is free or holds a ropim cache (of any version, damaged or not): data.cache
    /// naming some other file by mistake must not destroy it.
    static func checkReplaceable(_ path: String) throws {
        guard let info = SizeCheck.info(path) else { return }
        let fix = "nothing was written; point data.cache at a new file name (e.g. \(path).ropim-cache)"
        guard info.regular else {
            throw DataError("\(path): data.cache names \(info.directory ? "a folder" : "something that is not a regular file"), "
                + "not a packed cache file; \(fix)")
        }
        let head = FileHandle(forReadingAtPath: path).flatMap { h in
            defer { try? h.close() }
            return (try? h.read(upToCount: family.count)).map { Array($0) } ?? []
        }
        guard let head, head == family else {
            let what = info.size == 0 ? "it is empty"
                : head.map { "it starts with " + $0.map { String(format: "%02x", $0) }.joined(separator: " ") } ?? "it cannot be read"
            throw DataError("\(path): exists and is not a ropim packed cache (\(what)), so data.cache will not overwrite it; "
                + "\(fix), or delete this file yourself if it is disposable")
        }
    }

    /// A digest of each file's path, size and modification time (nanoseconds), in scan order: any file
    /// added, removed, renamed, rewritten or touched changes it. FNV-1a, 64 bits, as 16 hex digits.
    public static func fingerprint(of files: [String]) -> String {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        }
        for f in files {
            let info = SizeCheck.info(f)
            mix(f.utf8)
            mix([0])
            for v in [info?.size ?? -1, info?.mtimeSeconds ?? 0, info?.mtimeNanoseconds ?? 0] {
                withUnsafeBytes(of: Int64(v).littleEndian) { mix($0) }
            }
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func header(channels: Int, size: Int, count: Int, classes: Int, metaBytes: Int) -> Data {
        var d = Data(magic)
        for v in [version, UInt32(channels), UInt32(size), UInt32(size)] { withUnsafeBytes(of: v.littleEndian) { d += $0 } }
        withUnsafeBytes(of: UInt64(count).littleEndian) { d += $0 }
        for v in [UInt32(classes), UInt32(metaBytes)] { withUnsafeBytes(of: v.littleEndian) { d += $0 } }
        return d
    }

    /// What `prepare` did: the open cache, what a build skipped, whether it built, and why.
    public struct Prepared {
        public let cache: PackedCache
        /// Files skipped by the build (empty when the cache was reused).
        public let report: SkipReport
        /// Whether the cache was (re)built rather than reused.
        public let built: Bool
        /// In words, for the log: why the cache was rebuilt ("rebuilt: 3 files changed …") or that it was reused.
        public let reason: String
    }

    /// The cache at `path` when it was built from this folder scan (the same files with the same paths, sizes and
    /// modification times, the same classes) at this size and channel count; otherwise (missing, stale, damaged or
    /// of an older version) it is rebuilt first. A file at `path` that is not a ropim cache is an error, never replaced.
    public static func prepare(_ scan: ImageFolderScan, size: Int, channels: Int, path: String, skipBad: Bool = false,
                               threads: Int = 1) throws -> Prepared {
        let why: String
        if SizeCheck.info(path) == nil {
            why = "no cache at \(path) yet"
        } else {
            try checkReplaceable(path)
            do {
                let c = try PackedCache(path: path, whenDamaged: "rebuilding it")
                if let stale = c.staleness(scan, size: size, channels: channels) {
                    why = stale
                } else {
                    return Prepared(cache: c, report: SkipReport(), built: false,
                                    reason: "reused \(path): the \(scan.files.count) files have the paths, sizes and modification "
                                        + "times it was built from")
                }
            } catch {
                why = "\(error)"
            }
        }
        let report = try build(scan, size: size, channels: channels, to: path, skipBad: skipBad, threads: threads)
        return Prepared(cache: try PackedCache(path: path), report: report, built: true, reason: "rebuilt \(path): \(why)")
    }

    /// Why this cache does not hold `scan` at `channels`×`size`×`size`, or nil when it does.
    func staleness(_ scan: ImageFolderScan, size: Int, channels: Int) -> String? {
        if meta.source != scan.root { return "it was built from \(meta.source), not \(scan.root)" }
        if meta.files != scan.files.count {
            return "the folder has \(scan.files.count) image files, the cache was built from \(meta.files)"
        }
        if meta.fingerprint != PackedCache.fingerprint(of: scan.files) {
            return "files were replaced, renamed, rewritten or touched since it was built (their paths, sizes or "
                + "modification times differ)"
        }
        if self.channels != channels || height != size || width != size {
            return "it holds \(self.channels)×\(height)×\(width) images, \(channels)×\(size)×\(size) are needed"
        }
        if meta.classNames != scan.classNames {
            return "the class folders changed (\(meta.classNames?.count ?? 0) → \(scan.classNames?.count ?? 0) classes, or renamed)"
        }
        return nil
    }
}
