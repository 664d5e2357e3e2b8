// Helpers shared by the issue-14 tests: clean-rejection assertions with a memory bound, scratch folders,
// and byte-level editing of headers (big-endian fields, PNG chunks with their CRC, a JPEG's frame size).

import Foundation
import XCTest
@testable import ROPIMData

/// Peak resident memory of this process so far, in MiB (getrusage's high-water mark).
func peakMemoryMiB() -> Int {
    var u = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &u)
    #else
    getrusage(RUSAGE_SELF, &u)
    #endif
    #if os(Linux)
    return u.ru_maxrss / 1024
    #else
    return u.ru_maxrss / (1024 * 1024)
    #endif
}

/// Asserts that `body` throws a DataError whose description contains every string of `parts`.
func assertDataError(_ parts: [String], file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a DataError containing \(parts)", file: file, line: line)
    } catch let e as DataError {
        for p in parts { XCTAssertTrue(e.description.contains(p), "«\(e.description)» lacks «\(p)»", file: file, line: line) }
    } catch {
        XCTFail("expected DataError, got \(error)", file: file, line: line)
    }
}

/// `assertDataError`, and the process's peak memory grew by less than `memoryMiB` meanwhile (a reader
/// that trusted a header would allocate GBs).
func assertCleanRejection(_ parts: [String], memoryMiB: Int = 200, file: StaticString = #filePath, line: UInt = #line,
                          _ body: () throws -> Void) {
    let before = peakMemoryMiB()
    assertDataError(parts, file: file, line: line, body)
    let grew = peakMemoryMiB() - before
    XCTAssertLessThan(grew, memoryMiB, "peak memory grew by \(grew) MiB while rejecting the file", file: file, line: line)
}

/// A fresh folder under the temporary directory; the caller removes it.
func scratchFolder(_ tag: String) -> String {
    let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("ropim-\(tag)-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func writeBytes(_ bytes: [UInt8], _ path: String) {
    try! FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try! Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Big-endian bytes of a UInt32 (IDX header fields).
func bigEndianBytes(_ v: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) } }

/// CRC-32 (ISO-HDLC, as zlib and PNG), from its definition: independent of the code under test.
func crc32(_ bytes: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return ~c
}

private let crcTable: [UInt32] = (0..<256).map { (n: Int) -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
}

/// A PNG chunk: length, type, data, CRC.
func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let body = Array(type.utf8) + data
    return bigEndianBytes(UInt32(data.count)) + body + bigEndianBytes(crc32(body))
}

/// `png` with IHDR's width and height replaced (and its CRC fixed), so only the size claim changes.
func withPNGSize(_ png: [UInt8], width: UInt32, height: UInt32) -> [UInt8] {
    var b = png
    b.replaceSubrange(16..<24, with: bigEndianBytes(width) + bigEndianBytes(height))
    b.replaceSubrange(29..<33, with: bigEndianBytes(crc32(Array(b[12..<29]))))
    return b
}

/// `jpeg` with its frame header's height and width replaced.
func withJPEGSize(_ jpeg: [UInt8], width: UInt16, height: UInt16) -> [UInt8] {
    var b = jpeg
    guard let at = (2..<b.count - 9).first(where: { b[$0] == 0xFF && (0xC0...0xC2).contains(b[$0 + 1]) }) else { return b }
    b.replaceSubrange(at + 5..<at + 9, with: [UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF)])
    return b
}

/// A zlib stream of stored (uncompressed) deflate blocks: a PNG's IDAT data written without zlib.
func zlibStored(_ data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [0x78, 0x01]
    var start = 0
    repeat {
        let n = min(65535, data.count - start)
        let final: UInt8 = start + n == data.count ? 1 : 0
        out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
        out += data[start..<start + n]
        start += n
    } while start < data.count
    var a: UInt32 = 1, b: UInt32 = 0
    for x in data { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
    return out + bigEndianBytes(b << 16 | a)
}

/// A PNG from its parts: IHDR fields, optional PLTE, and the raw (filtered) scanlines stored uncompressed.
func makePNG(width: Int, height: Int, bitDepth: Int, colorType: Int, interlaced: Bool, palette: [UInt8]? = nil,
             raw: [UInt8]) -> [UInt8] {
    let ihdr = bigEndianBytes(UInt32(width)) + bigEndianBytes(UInt32(height))
        + [UInt8(bitDepth), UInt8(colorType), 0, 0, interlaced ? 1 : 0]
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + pngChunk("IHDR", ihdr)
        + (palette.map { pngChunk("PLTE", $0) } ?? []) + pngChunk("IDAT", zlibStored(raw)) + pngChunk("IEND", [])
}

/// `png` with the CRC of every complete chunk recomputed, so that a mutation reaches the code past the CRC check.
func withPNGCRCsFixed(_ png: [UInt8]) -> [UInt8] {
    var b = png
    var at = 8
    while at + 12 <= b.count {
        let length = Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
        guard length <= b.count - at - 12 else { break }
        b.replaceSubrange(at + 8 + length..<at + 12 + length, with: bigEndianBytes(crc32(Array(b[at + 4..<at + 8 + length]))))
        at += 12 + length
    }
    return b
}
