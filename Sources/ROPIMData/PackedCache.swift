// A packed cache: decoded, resized uint8 images of a folder in one file, memory-mapped, so that a large
// JPEG dataset is decoded once instead of every epoch and never has to fit in memory.
//
// Layout (little-endian): "ROPIMPK1", u32 version, u32 channels, u32 height, u32 width, u64 count,
// u32 classes (0 = unlabelled), u32 metaBytes, meta JSON {source, files, classNames}, zero padding to a
// 64-byte boundary, count × C×H×W pixels, then count × i32 labels when labelled.

import Foundation
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
        public var classNames: [String]?
    }

    static let magic = Array("ROPIMPK1".utf8)
    static let version: UInt32 = 1
    static let fixedHeader = 8 + 4 * 4 + 8 + 4 * 2

    var imageBytes: Int { channels * height * width }

    /// Maps and checks a cache file.
    public init(path: String) throws {
        self.path = path
        let path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DataError("\(path): cannot open the packed cache (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DataError("\(path): cannot stat the packed cache") }
        let length = Int(st.st_size)
        self.length = length
        let rebuild = "delete it to rebuild it from the image folder"
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
        count = Int(UInt64(littleEndian: m.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
        let c = u32(32), metaBytes = u32(36)
        classes = c > 0 ? c : nil
        guard [1, 3].contains(channels), height > 0, width > 0, count > 0, count < 1 << 40,
              PackedCache.fixedHeader + metaBytes <= length else { throw fail("damaged header") }
        let metaData = Data(bytes: m + PackedCache.fixedHeader, count: metaBytes)
        guard let decoded = try? JSONDecoder().decode(Meta.self, from: metaData) else { throw fail("damaged header (meta)") }
        meta = decoded
        // pixelsOffset is assigned last: a throw after full initialization would run deinit (a second munmap).
        let pixelsOffset = PackedCache.align(PackedCache.fixedHeader + metaBytes)
        let expected = pixelsOffset + count * channels * height * width + (classes != nil ? 4 * count : 0)
        guard length == expected else {
            throw fail("\(length) bytes but the header describes \(expected) (an interrupted build?)")
        }
        if let classes {
            let labelsAt = pixelsOffset + count * channels * height * width
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
    /// unless `skipBad` (then listed in the report).
    @discardableResult
    public static func build(_ scan: ImageFolderScan, size: Int, channels: Int, to path: String, skipBad: Bool = false,
                             threads: Int = 1, chunk: Int = 512) throws -> SkipReport {
        let meta = Meta(source: scan.root, files: scan.files.count, classNames: scan.classNames)
        let metaData = try JSONEncoder().encode(meta)
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: nil), let h = FileHandle(forWritingAtPath: tmp) else {
            throw DataError("\(tmp): cannot create the packed cache; check the folder exists and is writable")
        }
        var report = scan.report
        var labels = [Int32]()
        var kept = 0
        do {
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
            try h.synchronize()
            try h.close()
        } catch {
            try? h.close()
            try? FileManager.default.removeItem(atPath: tmp)
            throw error
        }
        guard rename(tmp, path) == 0 else {
            try? FileManager.default.removeItem(atPath: tmp)
            throw DataError("\(path): cannot move the finished cache into place (\(String(cString: strerror(errno))))")
        }
        return report
    }

    static func header(channels: Int, size: Int, count: Int, classes: Int, metaBytes: Int) -> Data {
        var d = Data(magic)
        for v in [version, UInt32(channels), UInt32(size), UInt32(size)] { withUnsafeBytes(of: v.littleEndian) { d += $0 } }
        withUnsafeBytes(of: UInt64(count).littleEndian) { d += $0 }
        for v in [UInt32(classes), UInt32(metaBytes)] { withUnsafeBytes(of: v.littleEndian) { d += $0 } }
        return d
    }

    /// The cache at `path` when it was built from this folder scan at this size and channel count;
    /// otherwise (missing, stale or damaged) it is rebuilt first. Returns the open cache and what the build skipped.
    public static func openOrBuild(_ scan: ImageFolderScan, size: Int, channels: Int, path: String, skipBad: Bool = false,
                                   threads: Int = 1) throws -> (cache: PackedCache, report: SkipReport, built: Bool) {
        if let c = try? PackedCache(path: path), c.meta.source == scan.root, c.meta.files == scan.files.count,
           c.channels == channels, c.height == size, c.width == size, c.meta.classNames == scan.classNames {
            return (c, SkipReport(), false)
        }
        let report = try build(scan, size: size, channels: channels, to: path, skipBad: skipBad, threads: threads)
        return (try PackedCache(path: path), report, true)
    }
}
