// safetensors round trip and damaged files; the atomic writer.

import Foundation
import XCTest
@testable import ROPIMFiles

final class SafeTensorsTests: XCTestCase {
    func testRoundTripAndCorruptFiles() throws {
        let path = NSTemporaryDirectory() + "st-\(UUID().uuidString).safetensors"
        let ts = [NamedTensor(name: "a.weight", shape: [2, 3], values: [1, 2, 3, 4, 5, -6]),
                  NamedTensor(name: "b", shape: [1], values: [.pi])]
        try SafeTensors.write(ts, metadata: ["k": "v \"quoted\""], to: path)
        let (back, meta) = try SafeTensors.read(path)
        XCTAssertEqual(back.map(\.name), ["a.weight", "b"])
        XCTAssertEqual(back[0].values, ts[0].values)
        XCTAssertEqual(back[1].shape, [1])
        XCTAssertEqual(meta["k"], "v \"quoted\"")
        let data = FileManager.default.contents(atPath: path)!
        XCTAssertEqual(Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) % 8, 0)
        try data.prefix(data.count - 5).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try SafeTensors.read(path)) { XCTAssert("\($0)".contains("truncated"), "\($0)") }
        XCTAssertThrowsError(try SafeTensors.read(path + ".missing")) { XCTAssert("\($0)".contains("missing")) }
    }

    /// JSON strings: quote, backslash and control characters escaped, slashes and non-ASCII kept; every
    /// string reads back as itself.
    func testJSONStringsEscapeAndReadBack() throws {
        XCTAssertEqual(JSONText.quoted("a/b \"c\" \\ é\n"), #""a/b \"c\" \\ é\n""#)
        let all = String((0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) }) + "Π⊥ 🙂"
        let back = try JSONSerialization.jsonObject(with: Data("[\(JSONText.quoted(all))]".utf8)) as? [String]
        XCTAssertEqual(back, [all])
    }

    /// The atomic writer replaces the file whole, leaves no temporary behind, and a failed write names the path.
    func testAtomicWriteReplacesWholeAndReportsFailures() throws {
        let dir = NSTemporaryDirectory() + "atomic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/a.txt"
        try AtomicFile.write("first, longer text\n", to: path)
        try AtomicFile.write("second\n", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "second\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["a.txt"])
        XCTAssertThrowsError(try AtomicFile.write("x", to: dir + "/missing/b.txt")) {
            XCTAssertTrue("\($0)".contains("missing/b.txt"), "\($0)")
        }
    }

    /// A folder that cannot be created says why in words: a part of its path is a file (fault-21).
    func testFolderCreationSaysWhatIsInTheWay() throws {
        let dir = NSTemporaryDirectory() + "folders-\(UUID().uuidString)"
        try Folders.create(dir + "/a/b", what: "the output folder", fix: "pass another --output")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssert(FileManager.default.fileExists(atPath: dir + "/a/b"))
        try AtomicFile.write("x", to: dir + "/afile")
        XCTAssertThrowsError(try Folders.create(dir + "/afile/run", what: "the run directory", fix: "pass another --output")) {
            XCTAssertEqual("\($0)", "\(dir)/afile/run: cannot create the run directory: \(dir)/afile is a file, not a folder; pass another --output")
        }
        XCTAssertThrowsError(try Folders.create(dir + "/afile", what: "the folder", fix: "pass another --dir")) {
            XCTAssert("\($0)".contains("afile: cannot create the folder: it is a file, not a folder"), "\($0)")
        }
    }
}
