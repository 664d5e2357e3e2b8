// Class indices across an image folder's splits (issue 14, fault-02): val/ and test/ number their class
// folders by train/'s, so label k names the same class in every split; a class train/ lacks is an error.

import Foundation
import XCTest
@testable import ROPIMKernels
@testable import ROPIMData

private func png(_ value: UInt8) throws -> [UInt8] {
    try ImageCodec.encodePNG(UInt8Image(channels: 1, height: 4, width: 4, pixels: [UInt8](repeating: value, count: 16)))
}

final class SplitClassTests: XCTestCase {
    /// fault-02's folder: train/{a,b}, val/ holding only b: val's images are class 1 (b), not 0.
    func testValSplitTakesTrainClassIndices() throws {
        let root = scratchFolder("split-classes")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (k, p) in ["train/a/0.png", "train/a/1.png", "train/b/2.png", "train/b/3.png", "val/b/4.png", "val/b/5.png",
                       "test/a/6.png", "test/b/7.png"].enumerated() {
            writeBytes(try png(UInt8(k * 20)), root + "/" + p)
        }
        let val = try ImageFolder.scanSplit(root, split: "val")
        XCTAssertEqual(val.labels, [1, 1])
        XCTAssertEqual(val.classNames, ["a", "b"], "the training split's class list, index = class")
        XCTAssertEqual(try ImageFolder.load(root, split: "val", size: 4, channels: 1).dataset.labels, [1, 1])
        XCTAssertEqual(try ImageFolder.load(root, split: "val", size: 4, channels: 1).dataset.classes, 2)
        XCTAssertEqual(try ImageFolder.scanSplit(root, split: "test").labels, [0, 1])
        XCTAssertEqual(try ImageFolder.scanSplit(root, split: "train").labels, [0, 0, 1, 1])
        // Without the training split's names, a scan of val/ alone numbers its own folders (the old behaviour).
        XCTAssertEqual(try ImageFolder.scan(root + "/val").labels, [0, 0])
        XCTAssertEqual(try ImageFolder.scan(root + "/val", classNames: ["a", "b"]).labels, [1, 1])
    }

    /// val/{a,c} against train/{a,b}: c has no training class, which is an error naming it (it used to become b).
    func testClassFolderMissingFromTrainIsAnErrorNamingIt() throws {
        let root = scratchFolder("split-unknown")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for p in ["train/a/0.png", "train/b/1.png", "val/a/2.png", "val/c/3.png", "val/d/4.png"] { writeBytes(try png(9), root + "/" + p) }
        let shown = try ImageFolder.splitRoot(root, split: "train")
        let bodies: [() throws -> Void] = [{ _ = try ImageFolder.scanSplit(root, split: "val") },
                                          { _ = try ImageFolder.load(root, split: "val", size: 4, channels: 1) }]
        for body in bodies {
            assertCleanRejection([root + "/val/c", "class folder 'c' is not one of the 2 classes of \(shown)", "nor are 1 more",
                                  "rename it", "remove it"], body)
        }
        assertCleanRejection(["class folder 'c' is not one of the 2 classes of the training split"]) {
            _ = try ImageFolder.scan(root + "/val", classNames: ["a", "b"])
        }
    }

    /// An empty val class folder keeps train's index under --skip-bad; a flat (unlabelled) train split gives
    /// val no names to follow, so val numbers its own folders.
    func testSkipBadAndFlatTrainSplit() throws {
        let root = scratchFolder("split-edge")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for p in ["train/a/0.png", "train/b/1.png", "train/c/2.png", "val/c/3.png"] { writeBytes(try png(1), root + "/" + p) }
        try FileManager.default.createDirectory(atPath: root + "/val/a", withIntermediateDirectories: true)
        assertCleanRejection([root + "/val/a", "class folder 'a' (class 0) holds no JPEG or PNG images"]) {
            _ = try ImageFolder.scanSplit(root, split: "val")
        }
        let skipped = try ImageFolder.scanSplit(root, split: "val", skipBad: true)
        XCTAssertEqual(skipped.labels, [2])
        XCTAssertEqual(skipped.report.skipped.map(\.path), [root + "/val/a"])

        let flat = scratchFolder("split-flat")
        defer { try? FileManager.default.removeItem(atPath: flat) }
        for p in ["train/0.png", "train/1.png", "val/x/2.png", "val/y/3.png"] { writeBytes(try png(1), flat + "/" + p) }
        XCTAssertNil(try ImageFolder.classFolders(flat + "/train"))
        XCTAssertEqual(try ImageFolder.scanSplit(flat, split: "val").labels, [0, 1])
    }
}
