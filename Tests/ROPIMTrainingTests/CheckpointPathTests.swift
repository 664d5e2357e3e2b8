// The one rule for "which checkpoint does this path name" (CheckpointPath), on directory layouts made by hand.

import Foundation
import XCTest
import ROPIMConfig
@testable import ROPIMTraining

final class CheckpointPathTests: XCTestCase {
    let fm = FileManager.default

    func touch(_ path: String) throws {
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: path))
    }

    func testEveryLayoutResolvesToOneFile() throws {
        let run = NSTemporaryDirectory() + "ropim-ckpt-path-\(UUID().uuidString)"
        defer { try? fm.removeItem(atPath: run) }
        for step in ["ckpt-00000004", "ckpt-00000008"] {
            try touch("\(run)/\(step)/model.safetensors"); try touch("\(run)/\(step)/state.json")
        }
        try fm.createDirectory(atPath: run + "/ckpt-00000009", withIntermediateDirectories: true)   // a save killed midway

        // Unfinished run: the newest complete ckpt-*/.
        var p = try CheckpointPath.resolve(run)
        XCTAssertEqual(p.kind, .unfinishedRun)
        XCTAssertEqual(p.file, run + "/ckpt-00000008/model.safetensors")
        XCTAssertEqual(try CheckpointPath.resumable(run), run + "/ckpt-00000008")
        // A ckpt-*/ directory (with or without a trailing slash): its model.safetensors.
        p = try CheckpointPath.resolve(run + "/ckpt-00000004/")
        XCTAssertEqual(p.kind, .checkpointDirectory)
        XCTAssertEqual(p.file, run + "/ckpt-00000004/model.safetensors")
        XCTAssertEqual(p.resumable, run + "/ckpt-00000004")
        // Finished run: the final checkpoint, whatever ckpt-*/ it also holds.
        try touch(run + "/checkpoint.safetensors")
        p = try CheckpointPath.resolve(run)
        XCTAssertEqual(p.kind, .runDirectory)
        XCTAssertEqual(p.file, run + "/checkpoint.safetensors")
        XCTAssertEqual(p.resumable, run + "/ckpt-00000008")
        // A file is itself (best.safetensors of a fine-tuning run, an export …).
        try touch(run + "/best.safetensors")
        XCTAssertEqual(try CheckpointPath.resolve(run + "/best.safetensors").file, run + "/best.safetensors")
    }

    func testErrorsSayWhatWasFoundAndWhatToPass() throws {
        let dir = NSTemporaryDirectory() + "ropim-ckpt-path-\(UUID().uuidString)"
        defer { try? fm.removeItem(atPath: dir) }
        try touch(dir + "/best.safetensors")
        XCTAssertThrowsError(try CheckpointPath.resolve(dir)) {
            XCTAssert("\($0)".contains("best.safetensors (pass \(dir)/best.safetensors"), "\($0)")
        }
        XCTAssertThrowsError(try CheckpointPath.resolve(dir + "/nope")) {
            XCTAssert("\($0)".contains("checkpoint not found") && "\($0)".contains("a ckpt-*/ directory"), "\($0)")
        }
        try fm.createDirectory(atPath: dir + "/ckpt-00000001", withIntermediateDirectories: true)
        try touch(dir + "/ckpt-00000001/state.json")
        XCTAssertThrowsError(try CheckpointPath.resolve(dir + "/ckpt-00000001")) {
            XCTAssert("\($0)".contains("no model.safetensors"), "\($0)")
        }
        XCTAssertThrowsError(try CheckpointPath.resumable(dir + "/best.safetensors")) {
            XCTAssert("\($0)".contains("--resume takes a run directory"), "\($0)")
        }
    }
}

/// The format names and version that writers put into the metadata are the ones the header reads back.
final class FileFormatTests: XCTestCase {
    func testHeaderReadsWhatWritersWriteAndRefusesAnotherVersion() throws {
        let yaml = try ConfigLoader.yaml(PretrainConfig())
        var meta = RopimFormat.pretrain.metadata(["step": "7", "config": yaml])
        XCTAssertEqual(meta["format"], "ropim-pretrain")
        XCTAssertEqual(meta["format_version"], "1")
        // The header is checked against the weights file's size: a sparse file as large as the model's weights.
        let file = NSTemporaryDirectory() + "header-\(UUID().uuidString).safetensors"
        FileManager.default.createFile(atPath: file, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
        try h.truncate(atOffset: 16 << 20); try h.close()
        let header = try CheckpointHeader(file: file, metadata: meta)
        XCTAssertEqual(header.layout, .pretrain)
        XCTAssertEqual(header.step, 7)
        meta[RopimFormat.versionKey] = "2"
        XCTAssertThrowsError(try CheckpointHeader(file: file, metadata: meta)) {
            XCTAssert("\($0)".contains("ropim-pretrain format version 2, this ropim reads version 1"), "\($0)")
        }
        XCTAssertEqual(RopimFormat.adamw.metadata(["step": "3"]), ["format": "ropim-adamw", "step": "3"])
        XCTAssertEqual(RopimFormat.features.metadata(), ["format": "ropim-features"])
    }
}
