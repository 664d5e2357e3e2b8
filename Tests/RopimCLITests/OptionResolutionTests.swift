// The shared option groups: one rule per option, the same in every command that has it; negative numbers
// where the help documents them; --help lists only what a command uses; out-of-range numbers are clean errors.

import ArgumentParser
import Foundation
import XCTest
import ROPIMData
import ROPIMDownstream
import ROPIMFiles
import ROPIMTraining
@testable import RopimCLI

final class OptionResolutionTests: XCTestCase {
    func parse(_ args: [String]) throws -> ParsableCommand { try Ropim.parseAsRoot(args) }

    /// The message a user sees for `args` (parse, validate and resolve), or nil when all of it succeeds.
    func failure(_ args: [String], resolve: ((ParsableCommand) throws -> Void)? = nil) -> String? {
        do {
            let c = try parse(args)
            try resolve?(c)
            return nil
        } catch {
            return Ropim.fullMessage(for: error)
        }
    }

    /// --data DIR without --dataset means "detect", in every command that reads data, even when the
    /// checkpoint was pre-trained on another kind (it used to stay IDX in finetune/linprobe/knn/analyze).
    func testDataWithoutDatasetAutoDetectsEverywhere() throws {
        let s = try Scratch()
        let ck = s.path("run/checkpoint.safetensors")
        try Tiny.checkpoint(ck)   // pre-trained on Fashion-MNIST IDX
        let folder = s.path("images")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func kinds(_ extra: [String]) throws -> [DatasetKind] {
            let d = ["--data", folder] + extra
            return [
                try (parse(["pretrain"] + d) as! Pretrain).resolve().config.data.dataset,
                try (parse(["finetune", "--pretrained", ck] + d) as! Finetune).resolve(try PretrainCheckpoint(path: ck)).data.dataset,
                try (parse(["linprobe", "--pretrained", ck] + d) as! Linprobe).resolve().0.data.dataset,
                try (parse(["knn", "--pretrained", ck] + d) as! KNNCommand).resolve().0.data.dataset,
                try (parse(["finetune"] + d) as! Finetune).resolve(nil).data.dataset,
                try (parse(["visualize", "--checkpoint", ck] + d) as! Visualize).resolve().1.dataset,
                try (parse(["analyze", "corruption"] + d) as! AnalyzeCorruption).resolve().data.dataset,
                try (parse(["embed", "--checkpoint", ck, "--output", "x"] + d) as! Embed).resolve().1.dataset,
            ]
        }
        XCTAssertEqual(try kinds([]), Array(repeating: .auto, count: 8))
        XCTAssertEqual(try kinds(["--dataset", "cifar10"]), Array(repeating: .cifar10, count: 8))
        // Without --data the checkpoint's data stays, kind and folder.
        let c = try (parse(["knn", "--pretrained", ck]) as! KNNCommand).resolve().0
        XCTAssertEqual(c.data.dataset, .idx)
        // The fault this rule fixes: k-NN of an IDX-pre-trained checkpoint on an image folder reads the folder.
        let knn = try (parse(["knn", "--pretrained", ck, "--data", folder]) as! KNNCommand).resolve().0
        XCTAssertEqual(try resolveDatasetKind(knn.data.dataset, path: knn.data.path), .imagefolder)
    }

    /// Every command that takes a checkpoint accepts a run directory, a ckpt-*/ directory or a file, by the
    /// one rule of CheckpointPath; --pretrained records the file it read.
    func testEveryCheckpointOptionTakesADirectory() throws {
        let s = try Scratch()
        try Tiny.checkpoint(s.path("run/checkpoint.safetensors"))
        try Tiny.resumable(in: s.path("run"), step: 3)
        let file = s.path("run/checkpoint.safetensors")
        for given in [s.path("run"), file] {
            XCTAssertEqual(try (parse(["finetune", "--pretrained", given]) as! Finetune).common.checkpoint()?.path, file)
            XCTAssertEqual(try (parse(["knn", "--pretrained", given]) as! KNNCommand).resolve().0.pretrained, file)
            XCTAssertEqual(try (parse(["linprobe", "--pretrained", given]) as! Linprobe).resolve().0.pretrained, file)
            XCTAssertEqual(try (parse(["visualize", "--checkpoint", given]) as! Visualize).resolve().0.path, file)
            XCTAssertEqual(try (parse(["embed", "--checkpoint", given, "--output", "x"]) as! Embed).resolve().0.path, file)
            XCTAssertEqual(try (parse(["export", given, "--output", "x"]) as! Export).checkpoint.resolved().file, file)
            XCTAssertEqual(try (parse(["inspect", given]) as! Inspect).path.resolved().file, file)
        }
        let ckptDir = s.path("run/ckpt-00000003")
        XCTAssertEqual(try (parse(["knn", "--pretrained", ckptDir]) as! KNNCommand).resolve().0.pretrained, ckptDir + "/model.safetensors")
        XCTAssertEqual(try (parse(["pretrain", "--resume", s.path("run")]) as! Pretrain).resolve().resume, ckptDir)
        let missing = failure(["knn", "--pretrained", s.path("nope")]) { _ = try ($0 as! KNNCommand).resolve() }
        XCTAssert(missing?.contains("checkpoint not found") == true && missing?.contains("a ckpt-*/ directory") == true, missing ?? "")
    }

    /// `--block -1` is documented and parses (ArgumentParser's .unconditional value parsing).
    func testDocumentedNegativeNumbersParse() throws {
        let lp = try (parse(["linprobe", "--features", "pixels", "--block", "-1"]) as! Linprobe).resolve().0
        XCTAssertEqual(lp.probe.block, -1)
        let knn = try parse(["knn", "--features", "pixels", "--block", "-1", "--k", "5"]) as! KNNCommand
        XCTAssertEqual(knn.feature.block, -1); XCTAssertEqual(knn.k, 5)
        let message = failure(["linprobe", "--features", "random", "--block", "-2"]) { _ = try ($0 as! Linprobe).resolve() }
        XCTAssert(message?.contains("probe.block -2 is outside −1") == true, message ?? "")
    }

    /// Options land on their config keys the same way in every command: flags after --set after --config.
    func testOptionsLandOnTheirKeys() throws {
        let s = try Scratch()
        let yaml = s.path("a.yaml")
        try "optim:\n  epochs: 7\n  batch_size: 32\nrun:\n  seed: 4\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        let p = try (parse(["pretrain", "--config", yaml, "--set", "optim.epochs=8", "--batch-size", "16", "--threads", "3",
                            "--output", "o", "--accum-steps", "2", "--lr", "0.002", "--max-steps", "9", "--img-size", "32",
                            "--patch-size", "8", "--sketch-size", "4", "--sampler", "iid", "--skip-bad"]) as! Pretrain).resolve().config
        XCTAssertEqual([p.optim.epochs, p.optim.batchSize, p.run.threads, p.run.seed, p.optim.accumSteps, p.optim.maxSteps,
                        p.model.imgSize, p.model.patchSize, p.method.sketchSize], [8, 16, 3, 4, 2, 9, 32, 8, 4])
        XCTAssertEqual(p.run.output, "o"); XCTAssertEqual(p.optim.baseLR, 0.002); XCTAssertEqual(p.method.sampler, .iid); XCTAssert(p.data.skipBad)
        let f = try (parse(["finetune", "--config", yaml, "--set", "optim.epochs=8", "--batch-size", "16", "--threads", "3",
                            "--seed", "5", "--subset", "100", "--test-subset", "10", "--layer-decay", "0.5", "--classes", "4"]) as! Finetune).resolve(nil)
        XCTAssertEqual([f.optim.epochs, f.optim.batchSize, f.run.threads, f.run.seed, f.data.subset, f.data.testSubset, f.method.classes],
                       [8, 16, 3, 5, 100, 10, 4])
        XCTAssertEqual(f.optim.layerDecay, 0.5)
        let b = try (parse(["bench", "--preset", "cifar", "--batch-size", "8", "--threads", "2", "--corruption", "mask"]) as! RopimCLI.Bench).resolve()
        XCTAssertEqual([b.optim.batchSize, b.run.threads, b.model.imgSize], [8, 2, 32]); XCTAssertEqual(b.method.corruption, .mask)
        try SafeTensors.write([], metadata: [:], to: s.path("w.safetensors"))   // no config.json: the architecture comes from --set
        let i = try (parse(["import", s.path("w.safetensors"), "--output", "o", "--seed", "6", "--set", "model.depth=2"]) as! Import).resolve()
        XCTAssertEqual([i.run.seed, i.model.depth], [6, 2]); XCTAssertEqual(i.run.output, "o")
    }

    /// --help lists only the options that do something in that command.
    func testHelpListsOnlyWhatACommandUses() throws {
        func options(_ command: ParsableCommand.Type) -> Set<String> {
            let help = Ropim.helpMessage(for: command)
            return Set(help.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "[" || $0 == "]" || $0 == "," })
                .filter { $0.hasPrefix("--") }.map { String($0) })
        }
        let bench = options(RopimCLI.Bench.self), imp = options(Import.self)
        for unused in ["--data", "--dataset", "--epochs", "--subset", "--output", "--skip-bad", "--max-steps", "--lr", "--resume"] {
            XCTAssertFalse(bench.contains(unused), "bench --help lists \(unused)")
        }
        for unused in ["--data", "--threads", "--epochs", "--batch-size", "--corruption", "--sketch-size", "--lr"] {
            XCTAssertFalse(imp.contains(unused), "import --help lists \(unused)")
        }
        XCTAssert(bench.isSuperset(of: ["--preset", "--batch-size", "--threads", "--corruption", "--sketch-size", "--img-size"]))
        XCTAssert(imp.isSuperset(of: ["--preset", "--config", "--set", "--output", "--seed", "--allow-missing"]))
        XCTAssertFalse(options(KNNCommand.self).contains("--epochs"))
        XCTAssert(options(AnalyzeCorruption.self).isSuperset(of: ["--data", "--dataset", "--sketch-size", "--threads"]))
    }

    /// A negative number after an option is its value (`--lr -1` reads as `--lr=-1`), so it reaches the range
    /// check instead of "Missing value for '--lr <lr>'" (fault-21); other words starting with '-' stay options.
    func testNegativeNumbersAfterAnOptionAreItsValue() throws {
        XCTAssertEqual(Ropim.joiningNegativeNumbers(["pretrain", "--lr", "-1", "--seed", "-3e2", "--skip-bad", "--", "--x", "-1"]),
                       ["pretrain", "--lr=-1", "--seed=-3e2", "--skip-bad", "--", "--x", "-1"])
        XCTAssertEqual(Ropim.joiningNegativeNumbers(["knn", "--k=-1", "-2", "--temperature", "-h"]), ["knn", "--k=-1", "-2", "--temperature", "-h"])
        let message = failure(Ropim.joiningNegativeNumbers(["pretrain", "--threads", "1", "--lr", "-1"])) { _ = try ($0 as! Pretrain).resolve() }
        XCTAssert(message?.contains("optim.base_lr must be a finite number in (0.0") == true, message ?? "no error")
    }

    /// Every number a user can type is range-checked once, with a message that names the option or key.
    /// (The binary joins a negative number to the option before it: see testNegativeNumbersAfterAnOptionAreItsValue.)
    func testOutOfRangeNumbersAreCleanErrors() throws {
        let cases: [([String], String)] = [
            (["embed", "--checkpoint", "c", "--output", "o", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
            (["embed", "--checkpoint", "c", "--output", "o", "--count", "-1"], "--count must be ≥ 0"),
            (["bench-data", "--batch", "0"], "--batch must be at least 1, got 0"),
            (["bench-data", "--size", "0"], "--size must be in 1...8192 px, got 0"),
            (["bench-data", "--count", "10"], "--count must be at least twice --batch"),
            (["analyze", "corruption", "--bin-width", "1e-12"], "--bin-width must be in [0.0001, 1]"),
            (["bench", "--steps", "0"], "--steps must be at least 1"),
            (["pretrain", "--threads=-1"], "--threads must be in 0...4096 (0 = all cores), got -1"),
            (["visualize", "--checkpoint", "c", "--threads", "5000"], "--threads must be in 0...4096"),
            (["visualize", "--checkpoint", "c", "--count", "0"], "--count must be in 1...512, got 0"),
            (["visualize", "--checkpoint", "c", "--count", "100000"], "--count must be in 1...512, got 100000"),
            (["plot", "r", "--smooth", "0"], "--smooth must be at least 1"),
        ]
        for (args, expected) in cases {
            let m = failure(args)
            XCTAssert(m?.contains(expected) == true, "ropim \(args.joined(separator: " ")): \(m ?? "accepted")")
        }
        let resolved: [([String], String)] = [
            (["pretrain", "--epochs", "0"], "optim.epochs must be in 1...1000000, got 0"),
            (["pretrain", "--set", "run.threads=-2"], "run.threads must be in 0...4096"),
            (["pretrain", "--knn-every", "-1"], "run.knn_every"),
            (["finetune", "--subset=-5"], "data.subset must be in 0...1000000000"),
            (["linprobe", "--features", "pixels", "--test-subset=-1"], "data.test_subset must be in 0...1000000000"),
            (["linprobe", "--features", "pixels", "--holdout=-3"], "data.holdout must be in 0...1000000000"),
            (["knn", "--features", "pixels", "--holdout", "100", "--test-subset", "10"], "data.holdout 100 and data.test_subset 10 are both set"),
            (["knn", "--features", "pixels", "--k", "0"], "probe.k must be in 1...100000"),
            (["bench", "--batch-size", "0"], "optim.batch_size must be in 1...1000000, got 0"),
        ]
        for (args, expected) in resolved {
            let m = failure(args) { cmd in
                switch cmd {
                case let p as Pretrain: _ = try p.resolve()
                case let f as Finetune: _ = try f.resolve(nil)
                case let l as Linprobe: _ = try l.resolve()
                case let k as KNNCommand: _ = try k.resolve()
                case let b as RopimCLI.Bench: _ = try b.resolve()
                default: XCTFail("no resolver for \(type(of: cmd))")
                }
            }
            XCTAssert(m?.contains(expected) == true, "ropim \(args.joined(separator: " ")): \(m ?? "accepted")")
        }
    }
}
