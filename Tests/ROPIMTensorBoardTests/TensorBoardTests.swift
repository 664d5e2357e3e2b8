// TensorBoard event files: CRC-32C and TFRecord framing against known values (RFC 3720 and TensorBoard's own
// writer: scripts/tensorboard/framing_vectors.py printed them), an Event's bytes against TensorBoard's protobuf
// classes, and a written file read back record by record. The files read by TensorBoard itself:
// Tests/RopimCLITests/TensorBoardReaderTests.swift.

import Foundation
import XCTest
import ROPIMTestSupport
@testable import ROPIMTensorBoard

final class TFRecordTests: XCTestCase {
    func testCRC32CKnownValues() {
        // The CRC-32C check value, and RFC 3720 B.4's 32 zero bytes, 32 0xFF bytes, 0…31 and 31…0.
        XCTAssertEqual(TFRecord.crc32c(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(TFRecord.crc32c([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(TFRecord.crc32c([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(TFRecord.crc32c((0..<32).map(UInt8.init)), 0x46DD_794E)
        XCTAssertEqual(TFRecord.crc32c((0..<32).reversed().map(UInt8.init)), 0x113F_DB5C)
        XCTAssertEqual(TFRecord.crc32c([UInt8]()), 0)
    }

    /// Masked values as TensorBoard's masked_crc32c computes them.
    func testMaskedCRCMatchesTensorBoard() {
        XCTAssertEqual(TFRecord.masked(TFRecord.crc32c(Array("123456789".utf8))), 0xC78A_B0E5)
        XCTAssertEqual(TFRecord.masked(TFRecord.crc32c([UInt8](repeating: 0, count: 32))), 0x0FD7_FFFA)
        XCTAssertEqual(TFRecord.masked(TFRecord.crc32c((0..<32).map(UInt8.init))), 0x951F_7892)
        XCTAssertEqual(TFRecord.masked(0), 0xA282_EAD8)
    }

    /// TensorBoard's RecordWriter framing "hello": length 5, masked CRC of the length, the bytes, masked CRC of them.
    func testFrameMatchesTensorBoardsRecordWriter() {
        XCTAssertEqual(hex(TFRecord.frame(Data("hello".utf8))), "0500000000000000eab2043e68656c6c6fbb1f1c19")
    }

    /// The same Event serialized by TensorBoard's protobuf classes (loss 0.25 at step 7, wall time 1.5).
    func testScalarEventBytesMatchTensorBoard() throws {
        let e = Tensorboard_Event.with {
            $0.wallTime = 1.5; $0.step = 7
            $0.summary.value = [.with { $0.tag = "loss"; $0.simpleValue = 0.25 }]
        }
        XCTAssertEqual(hex(try e.serializedData()), "09000000000000f83f10072a0d0a0b0a046c6f7373150000803e")
    }

    func hex(_ d: Data) -> String { d.map { String(format: "%02x", $0) }.joined() }
}

final class EventFileTests: ScratchTestCase {
    /// Splits a TFRecord file into its payloads, checking every length and both CRCs.
    func records(_ path: String) throws -> [Data] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var out: [Data] = [], at = 0
        func u32(_ i: Int) -> UInt32 { bytes[i..<(i + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        while at < bytes.count {
            XCTAssertGreaterThanOrEqual(bytes.count - at, 16, "truncated record at \(at)")
            let n = Int(bytes[at..<(at + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
            XCTAssertEqual(u32(at + 8), TFRecord.masked(TFRecord.crc32c(bytes[at..<(at + 8)])), "length CRC at \(at)")
            let data = bytes[(at + 12)..<(at + 12 + n)]
            XCTAssertEqual(u32(at + 12 + n), TFRecord.masked(TFRecord.crc32c(data)), "data CRC at \(at)")
            out.append(Data(data))
            at += 16 + n
        }
        return out
    }

    func testWritesVersionScalarsAndImageInOrder() throws {
        let w = try EventFileWriter(directory: dir)
        XCTAssert((w.path as NSString).lastPathComponent.hasPrefix("events.out.tfevents."), w.path)
        try w.scalars([(tag: "loss", value: 0.5), (tag: "lr", value: 1e-4)], step: 3, wallTime: 10)
        try w.scalars([], step: 4)   // nothing to write: no record
        let png = Data([0x89, 0x50, 0x4E, 0x47, 1, 2, 3])
        try w.image(tag: "reconstructions", EncodedImage(png: png, width: 5, height: 4, channels: 3), step: 3, wallTime: 11)
        let events = try records(w.path).map { try Tensorboard_Event(serializedBytes: $0) }
        XCTAssertEqual(events.count, 3)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[1].step, 3); XCTAssertEqual(events[1].wallTime, 10)
        XCTAssertEqual(events[1].summary.value.map(\.tag), ["loss", "lr"])
        XCTAssertEqual(events[1].summary.value.map(\.simpleValue), [0.5, Float(1e-4)])
        let image = events[2].summary.value[0]
        XCTAssertEqual(image.tag, "reconstructions")
        XCTAssertEqual([image.image.width, image.image.height, image.image.colorspace], [5, 4, 3])
        XCTAssertEqual(image.image.encodedImageString, png)
    }

    /// A resumed run's new file starts with a SessionLog START at the step after the checkpoint, and two
    /// writers in one directory (the same second) get two files.
    func testResumedFileStartsASessionAfterTheCheckpoint() throws {
        let a = try EventFileWriter(directory: dir)
        let b = try EventFileWriter(directory: dir, resumedAt: 40)
        XCTAssertNotEqual(a.path, b.path)
        let events = try records(b.path).map { try Tensorboard_Event(serializedBytes: $0) }
        XCTAssertEqual(events.count, 2)
        XCTAssertEqual(events[0].fileVersion, "brain.Event:2")
        XCTAssertEqual(events[1].sessionLog.status, .start)
        XCTAssertEqual(events[1].step, 41)
    }

    func testUnwritableDirectoryIsAnErrorNamingIt() {
        XCTAssertThrowsError(try EventFileWriter(directory: dir + "/missing")) {
            XCTAssert("\($0)".contains(dir + "/missing"), "\($0)")
        }
    }
}
