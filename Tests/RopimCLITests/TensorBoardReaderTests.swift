// What the training commands leave for TensorBoard, read by TensorBoard's own reader
// (scripts/tensorboard/read_events.py, EventAccumulator), and pretrain's closing report.

import ArgumentParser
import Foundation
import XCTest
import ROPIMTestSupport
@testable import RopimCLI

final class TensorBoardReaderTests: XCTestCase {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/tensorboard/read_events.py").standardized.path

    /// read_events.py's listing of `dir` (in the scratch folder), which must succeed.
    func events(_ s: Scratch, _ dir: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try runPython([Self.script, s.path(dir)])
        XCTAssertEqual(r.status, 0, r.output, file: file, line: line)
        return r.output
    }

    /// A 1-epoch pre-training run (k-NN monitor on): its step scalars, k-NN top-1 and the reconstruction picture;
    /// then the event files of finetune, linprobe and knn on its checkpoint; then a run resumed from a checkpoint
    /// older than its last logged step, whose repeated steps the reader drops (SessionLog START).
    func testTensorBoardReadsWhatEachCommandWrote() throws {
        let probe = try runPython(["-c", "import tensorboard; print(tensorboard.__version__)"])
        guard probe.status == 0 else {
            throw XCTSkip("no Python with tensorboard (pip install tensorboard; or set PYTHON=/path/to/python): \(probe.output.suffix(200))")
        }
        let s = try Scratch()
        try s.ok(["pretrain", "--output", "runs/p", "--epochs", "1", "--knn-every", "1"] + Tiny.flags)
        let p = try events(s, "runs/p")
        for expected in ["scalar loss: 4 points, steps 1..4", "scalar lr: 4 points", "scalar grad_norm: 4 points",
                         "scalar images_per_second: 4 points", "scalar knn_top1: 1 points, steps 4..4",
                         "image reconstructions: 1 at steps [4], last 572x952"] {
            XCTAssert(p.contains(expected), "\(expected) in:\n\(p)")
        }
        XCTAssert(p.contains(", PNG") && !p.contains("repeated"), p)

        let ck = "runs/p/checkpoint.safetensors", few = ["--set", "data.synthetic_count=64"]
        try s.ok(["finetune", "--pretrained", ck, "--epochs", "1", "--batch-size", "16", "--output", "runs/ft"] + few)
        let ft = try events(s, "runs/ft")
        XCTAssert(ft.contains("scalar loss: 4 points") && ft.contains("scalar test_top1: 1 points, steps 4..4"), ft)
        try s.ok(["linprobe", "--pretrained", ck, "--epochs", "2", "--output", "runs/lp"] + few)
        XCTAssert(try events(s, "runs/lp").contains("scalar test_top1: 2 points, steps 1..2"))
        try s.ok(["knn", "--pretrained", ck, "--output", "runs/knn"] + few)
        XCTAssert(try events(s, "runs/knn").contains("scalar top1: 1 points, steps 0..0"))

        // 2 epochs (checkpoints at steps 4 and 8), then back to step 4 as if killed before step 8's checkpoint.
        try s.ok(["pretrain", "--output", "runs/r", "--epochs", "2", "--set", "run.report=false"] + Tiny.flags)
        for gone in ["checkpoint.safetensors", "ckpt-00000008", "summary.json"] { try FileManager.default.removeItem(atPath: s.path("runs/r/" + gone)) }
        XCTAssert(try s.ok(["pretrain", "--output", "runs/r"]).contains("resuming runs/r/ckpt-00000004 at step 4"))
        let r = try events(s, "runs/r")
        XCTAssert(r.contains("scalar loss: 8 points, steps 1..8") && !r.contains("repeated"), r)
    }

    /// The closing report of a finished run: the picture, both k-NN numbers (also in summary.json), and next
    /// commands that parse as written; a run cut by --max-steps gets no k-NN; run.report: false leaves it out.
    func testPretrainEndsWithPictureKNNAndNextCommands() throws {
        let s = try Scratch()
        let out = try s.ok(["pretrain", "--output", "runs/p", "--epochs", "1"] + Tiny.flags)
        XCTAssert(out.contains("reconstructions: runs/p/reconstructions.png") && s.exists("runs/p/reconstructions.png"), out)
        XCTAssert(out.contains("k-NN top-1 (20-NN, 16 test images, 64 train images as memory): ")
                  && out.contains(" % with this encoder, ") && out.contains(" % with a random one"), out)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s.path("runs/p/summary.json")))) as! [String: Any]
        for key in ["knn_top1", "knn_random_top1"] { XCTAssert((0...100).contains(summary[key] as? Double ?? -1), "\(key): \(summary)") }
        let next = out.components(separatedBy: "\nnext:\n").last!.split(separator: "\n").map { $0.components(separatedBy: "   # ")[0] }
        XCTAssertEqual(next.count, 6, out)
        for line in next where line.hasPrefix("  ropim ") {
            let args = Array(Readme.tokens(String(line.dropFirst(2))).dropFirst())
            XCTAssertNoThrow(try Ropim.parseAsRoot(args), "`\(line)` does not parse")
            if args.contains("runs/p/checkpoint.safetensors") || args.contains("runs/p") { continue }
            XCTFail("`\(line)` does not name the run")
        }
        XCTAssert(next.last!.hasPrefix("  tensorboard --logdir runs"), out)

        let cut = try s.ok(["pretrain", "--output", "runs/cut", "--epochs", "1", "--max-steps", "2"] + Tiny.flags)
        XCTAssert(cut.contains("reconstructions: runs/cut/reconstructions.png") && cut.contains("k-NN: not measured (the run stopped at step 2 of 4)")
                  && cut.contains("\nnext:\n"), cut)

        let quiet = try s.ok(["pretrain", "--output", "runs/q", "--epochs", "1", "--set", "run.report=false", "--set", "run.tensorboard=false"] + Tiny.flags)
        XCTAssertFalse(quiet.contains("next:") || quiet.contains("k-NN top-1"), quiet)
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: s.path("runs/q")).contains { $0.contains("tfevents") })
    }
}
