// The packed cache (issue 14, fault-05, bug-16): it never overwrites a file that is not a ropim cache, it is
// keyed on every file's path, size and modification time, says why it was rebuilt or reused, and its
// header fields are checked before they are used.

import Foundation
import XCTest
@testable import ROPIMKernels
@testable import ROPIMData

/// A folder of `count` 6×6 RGB PNGs in two classes, noise or constant `value`.
private func makeFolder(_ root: String, count: Int = 4, value: UInt8? = nil, seed: UInt64 = 1) throws {
    var rng = RNG(seed: seed)
    for k in 0..<count {
        let px = (0..<3 * 36).map { _ in value ?? UInt8(rng.int(below: 256)) }
        writeBytes(try ImageCodec.encodePNG(UInt8Image(channels: 3, height: 6, width: 6, pixels: px)), root + "/c\(k % 2)/\(k).png")
    }
}

private func pixels(_ cache: PackedCache) throws -> [UInt8] {
    try (0..<cache.count).flatMap { i in try cache.withImage(i) { Array(UnsafeBufferPointer(start: $0.pixels, count: 3 * 16)) } }
}

final class PackedCacheTests: XCTestCase {
    /// fault-05: data.cache naming an existing file that is not a cache (a typo for the dataset archive) is an
    /// error naming it, and the file is left byte for byte as it was; so are a folder and an empty file.
    func testRefusesToOverwriteAFileThatIsNotACache() throws {
        let dir = scratchFolder("cache-refuse")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeFolder(dir + "/imgs")
        let scan = try ImageFolder.scan(dir + "/imgs")
        var rng = RNG(seed: 3)
        let precious = (0..<50_000).map { _ in UInt8(rng.int(below: 256)) }
        let path = dir + "/precious.bin"
        writeBytes(precious, path)
        assertCleanRejection([path, "is not a ropim packed cache", "will not overwrite", "new file name"]) {
            _ = try PackedCache.prepare(scan, size: 4, channels: 3, path: path)
        }
        assertCleanRejection([path, "is not a ropim packed cache"]) { try PackedCache.build(scan, size: 4, channels: 3, to: path) }
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))), precious, "untouched")
        let empty = dir + "/empty.pack"
        writeBytes([], empty)
        assertCleanRejection([empty, "it is empty"]) { _ = try PackedCache.prepare(scan, size: 4, channels: 3, path: empty) }
        assertCleanRejection([dir + "/imgs", "names a folder"]) { _ = try PackedCache.prepare(scan, size: 4, channels: 3, path: dir + "/imgs") }
        // Nothing left behind: no temporary files beside the refused paths.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["empty.pack", "imgs", "precious.bin"])
    }

    /// bug-16: the same file names with new contents (so new sizes and times), a file touched without a size
    /// change, and a cache of the previous format version are rebuilt, each with the reason; an unchanged
    /// folder is reused. The rebuilt cache holds the new pixels.
    func testKeyedOnEveryFilesPathSizeAndModificationTime() throws {
        let dir = scratchFolder("cache-key")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = dir + "/imgs", path = dir + "/c.pack"
        try makeFolder(root)
        let first = try PackedCache.prepare(try ImageFolder.scan(root), size: 4, channels: 3, path: path)
        XCTAssertTrue(first.built)
        XCTAssertTrue(first.reason.contains("no cache at \(path) yet"), first.reason)
        let reused = try PackedCache.prepare(try ImageFolder.scan(root), size: 4, channels: 3, path: path)
        XCTAssertFalse(reused.built)
        XCTAssertTrue(reused.reason.hasPrefix("reused \(path)"), reused.reason)

        try makeFolder(root, value: 0)   // same 4 names, same classes, new contents
        let black = try PackedCache.prepare(try ImageFolder.scan(root), size: 4, channels: 3, path: path)
        XCTAssertTrue(black.built, "new contents under the same names rebuild the cache")
        XCTAssertTrue(black.reason.contains("rewritten or touched"), black.reason)
        XCTAssertEqual(try pixels(black.cache), [UInt8](repeating: 0, count: 4 * 3 * 16))

        // Same size, only the modification time moves (a file rewritten in place with another picture of equal size).
        let one = root + "/c1/1.png"
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 3600)], ofItemAtPath: one)
        XCTAssertTrue(try PackedCache.prepare(try ImageFolder.scan(root), size: 4, channels: 3, path: path).built)
        XCTAssertFalse(try PackedCache.prepare(try ImageFolder.scan(root), size: 4, channels: 3, path: path).built)
        // Another size, another channel count: rebuilt, saying so.
        let resized = try PackedCache.prepare(try ImageFolder.scan(root), size: 3, channels: 3, path: path)
        XCTAssertTrue(resized.built)
        XCTAssertTrue(resized.reason.contains("3×4×4 images, 3×3×3 are needed"), resized.reason)

        // A version-1 cache (no fingerprint) is ours: rebuilt, with the reason.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[8] = 1
        writeBytes(bytes, path)
        let old = try PackedCache.prepare(try ImageFolder.scan(root), size: 3, channels: 3, path: path)
        XCTAssertTrue(old.built)
        XCTAssertTrue(old.reason.contains("packed cache version 1, this build reads 2"), old.reason)
        // A truncated cache too (an interrupted copy).
        writeBytes(Array(bytes.prefix(bytes.count - 5)), path)
        let cut = try PackedCache.prepare(try ImageFolder.scan(root), size: 3, channels: 3, path: path)
        XCTAssertTrue(cut.built)
        XCTAssertTrue(cut.reason.contains("rebuilding it"), cut.reason)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["c.pack", "imgs"], "no temporary files left")
    }

    /// A packed cache header is read from the file too: sizes whose product overflows, a class count beyond
    /// Int32, a meta length beyond the file, and a count that disagrees with the length are clean errors.
    func testPackedCacheHeaderFieldsAreCheckedBeforeUse() throws {
        let dir = scratchFolder("cache-header")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for k in 0..<3 {
            writeBytes(try ImageCodec.encodePNG(UInt8Image(channels: 1, height: 4, width: 4, pixels: [UInt8](repeating: UInt8(k * 50), count: 16))),
                       dir + "/imgs/c\(k % 2)/\(k).png")
        }
        let path = dir + "/c.pack"
        try PackedCache.build(try ImageFolder.scan(dir + "/imgs"), size: 4, channels: 1, to: path)
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        func patched(_ at: Int, _ bytes: [UInt8]) -> [UInt8] {
            var b = good
            b.replaceSubrange(at..<at + bytes.count, with: bytes)
            return b
        }
        func le32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        func le64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        let cases: [(String, [UInt8], [String])] = [
            ("side", patched(16, le32(.max) + le32(.max)), ["image size 4294967295×4294967295"]),
            ("count", patched(24, le64(1 << 62)), ["but the header describes 4611686018427387904 images"]),
            ("count-max", patched(24, le64(.max)), ["header describes"]),
            ("classes", patched(32, le32(1 << 31)), ["2147483648 classes"]),
            ("meta", patched(36, le32(.max)), ["bytes of meta data"]),
            ("channels", patched(12, le32(4)), ["4 channels"]),
            ("names", patched(32, le32(5)), ["2 class names for 5 classes"]),
        ]
        for (name, bytes, parts) in cases {
            let p = dir + "/\(name).pack"
            writeBytes(bytes, p)
            assertCleanRejection([p, "delete it to rebuild"] + parts) { _ = try PackedCache(path: p) }
        }
        XCTAssertEqual(try PackedCache(path: path).count, 3, "the unpatched file still opens")
    }
}
