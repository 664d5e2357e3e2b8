// Headers that claim more than their file holds (issue 14, fault-08): every size a reader takes from a
// file is checked against the file's real size and for overflow before anything is allocated. Each case
// is built here from a valid file with one header field changed, and must fail fast with a clean error
// naming the file, without the memory the header asks for.

import Foundation
import XCTest
@testable import ROPIMKernels
@testable import ROPIMData

final class HeaderLimitTests: XCTestCase {
    /// fault-08: a 50 KB IDX file whose header claims 10¹², 3·10⁹ or 2·10¹⁰ bytes; sizes whose product overflows.
    func testIDXHeaderClaimingMoreThanTheFileFailsBeforeAllocating() throws {
        let dir = scratchFolder("idx-claims")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let payload = [UInt8](repeating: 7, count: 64 * 28 * 28)
        for count: UInt32 in [1_000_000, 3_000, 20_000] {
            let path = dir + "/claims-\(count)"
            writeBytes(bigEndianBytes(IDX.imagesMagic) + bigEndianBytes(count) + bigEndianBytes(1000) + bigEndianBytes(1000) + payload, path)
            let total = 16 + Int(count) * 1_000_000
            assertCleanRejection([path, "file ends after \(16 + payload.count) of \(total) bytes", "[\(count), 1000, 1000]", "re-download"]) {
                _ = try IDX.readImages(path: path)
            }
        }
        // (2³²−1)³ does not fit in an Int: the product is checked, not computed blindly.
        let huge = dir + "/overflow"
        writeBytes(bigEndianBytes(IDX.imagesMagic) + bigEndianBytes(.max) + bigEndianBytes(.max) + bigEndianBytes(.max) + payload, huge)
        assertCleanRejection([huge, "more bytes than any file can hold"]) { _ = try IDX.readImages(path: huge) }
        // A labels file claiming 2³²−1 labels.
        let labels = dir + "/labels"
        writeBytes(bigEndianBytes(IDX.labelsMagic) + bigEndianBytes(.max) + [1, 2, 3], labels)
        assertCleanRejection([labels, "file ends after 11 of \(8 + Int(UInt32.max)) bytes"]) { _ = try IDX.readLabels(path: labels) }
        // A folder where the file should be.
        let folder = dir + "/train-images-idx3-ubyte"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        assertCleanRejection([folder, "is a folder"]) { _ = try IDX.readImages(path: folder) }
    }

    /// The gzip'd version: a claim no gzip file of that size can inflate to is rejected at once; a plausible
    /// claim with a short stream is read with a buffer that grows with the data, then rejected as truncated.
    func testGzipIDXHeaderIsBoundedByTheCompressedSizeAndReadGrowing() throws {
        let dir = scratchFolder("idx-gz-claims")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/claims.gz"
        try IDX.writeFile(bigEndianBytes(IDX.imagesMagic) + bigEndianBytes(3_000) + bigEndianBytes(1000) + bigEndianBytes(1000)
                          + [UInt8](repeating: 1, count: 5000), path: path, gzip: true)
        assertCleanRejection([path, "describe 3000000016 bytes", "inflates to at most", "header is damaged"]) {
            _ = try IDX.readImages(path: path)
        }
        // 20 KB of noise hardly compresses; a claim of 50 KB is within the ratio, so the stream is read, and found short.
        var rng = RNG(seed: 8)
        let short = dir + "/short.gz"
        try IDX.writeFile(bigEndianBytes(IDX.imagesMagic) + bigEndianBytes(5) + bigEndianBytes(100) + bigEndianBytes(100)
                          + (0..<20_000).map { _ in UInt8(rng.int(below: 256)) }, path: short, gzip: true)
        assertCleanRejection([short, "file ends after 20016 of 50016 bytes", "truncated"]) { _ = try IDX.readImages(path: short) }
        // The installed-dataset shape still reads (grown buffer = exact payload).
        let ok = dir + "/ok.gz"
        let pixels = (0..<3 * 28 * 28).map { UInt8($0 % 256) }
        try IDX.writeFile(IDX.encodeImages(pixels, count: 3, height: 28, width: 28), path: ok, gzip: true)
        XCTAssertEqual(try IDX.readImages(path: ok).pixels, pixels)
    }

    /// A CIFAR batch's size decides its record count: a 10 GB sparse file of the wrong size, or a folder, is
    /// rejected from its size alone, without being read into memory.
    func testCIFARSizeIsCheckedBeforeReading() throws {
        let dir = scratchFolder("cifar-size")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let big = dir + "/data_batch_1.bin"
        XCTAssertTrue(FileManager.default.createFile(atPath: big, contents: nil))
        XCTAssertEqual(truncate(big, 10_000_000_001), 0, "sparse file")
        for k in 2...5 { writeBytes(CIFAR.encode(pixels: [UInt8](repeating: 3, count: 3072), labels: [[1]]), dir + "/data_batch_\(k).bin") }
        assertCleanRejection([big, "10000000001 bytes is not a whole number of 3073-byte CIFAR-10 records"]) { _ = try CIFAR.load10(dir) }
        try FileManager.default.removeItem(atPath: big)
        try FileManager.default.createDirectory(atPath: big, withIntermediateDirectories: true)
        assertCleanRejection([big, "is a folder"]) { _ = try CIFAR.load10(dir) }
    }

    /// PNG and JPEG headers: a size beyond PIL's decompression-bomb limit (or one whose product overflows) is
    /// rejected from the header; a size within it that the file's compressed data cannot fill is rejected
    /// before the pixels are allocated.
    func testImageHeadersClaimingAbsurdSizesAreRejectedBeforeAllocation() throws {
        let small = UInt8Image(channels: 3, height: 16, width: 16, pixels: (0..<768).map { UInt8($0 % 200) })
        let png = try ImageCodec.encodePNG(small), jpeg = try ImageCodec.encodeJPEG(small, quality: 80)
        func decode(_ bytes: [UInt8], _ name: String) throws { _ = try bytes.withUnsafeBytes { try ImageCodec.decode($0, path: name, channels: 3) } }
        assertCleanRejection(["huge.png", "PNG header gives 2147483647×2147483647 pixels", "\(ImageCodec.maxPixels)-pixel limit"]) {
            try decode(withPNGSize(png, width: 0x7FFF_FFFF, height: 0x7FFF_FFFF), "huge.png")
        }
        assertCleanRejection(["wide.png", "4294967295×4294967295"]) {   // not a legal PNG size, and the product overflows
            try decode(withPNGSize(png, width: .max, height: .max), "wide.png")
        }
        assertCleanRejection(["big.png", "10000×10000 pixels need 300010000 bytes", "truncated?"]) {
            try decode(withPNGSize(png, width: 10000, height: 10000), "big.png")
        }
        assertCleanRejection(["zero.png", "0×16 pixels", "damaged"]) { try decode(withPNGSize(png, width: 0, height: 16), "zero.png") }
        assertCleanRejection(["huge.jpg", "JPEG header gives 65000×65000 pixels", "-pixel limit"]) {
            try decode(withJPEGSize(jpeg, width: 65000, height: 65000), "huge.jpg")
        }
        assertCleanRejection(["big.jpg", "JPEG header gives 12000×12000 pixels", "one bit per 8×8 block"]) {
            try decode(withJPEGSize(jpeg, width: 12000, height: 12000), "big.jpg")
        }
        // A file far larger than any image (a disk image named .png by mistake) is not read into memory; a folder is no image.
        let dir = scratchFolder("huge-file")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/disk.png", contents: nil))
        XCTAssertEqual(truncate(dir + "/disk.png", 5_000_000_000), 0, "sparse file")
        assertCleanRejection([dir + "/disk.png", "5000000000 bytes, more than any image"]) { _ = try ImageCodec.decode(file: dir + "/disk.png", channels: 3) }
        try FileManager.default.createDirectory(atPath: dir + "/folder.jpg", withIntermediateDirectories: true)
        assertCleanRejection([dir + "/folder.jpg", "is a folder, not an image file"]) { _ = try ImageCodec.decode(file: dir + "/folder.jpg", channels: 3) }
        // The untouched files still decode (the editing helpers change only the size).
        XCTAssertNoThrow(try decode(png, "ok.png"))
        XCTAssertNoThrow(try decode(jpeg, "ok.jpg"))
    }
}
