// Every `ropim` command of README.md, exactly as written: it parses with the real command types and resolves
// to the config the README promises (option → config), and the ones that fit in test time run end to end.

import ArgumentParser
import Foundation
import XCTest
import ROPIMConfig
import ROPIMCore
import ROPIMData
import ROPIMDownstream
import ROPIMNN
import ROPIMTraining
@testable import RopimCLI

final class ReadmeExampleTests: XCTestCase {
    /// The README's examples, read the way a shell reads them.
    func testExtractionFindsEveryExample() throws {
        let examples = try Readme.examples()
        let names = examples.map(\.description)
        XCTAssert(names.contains("pretrain --epochs 1"), "the example after `swift run -c release ropim` is found: \(names)")
        XCTAssert(names.contains("knn --pretrained $CK"))
        XCTAssertEqual(examples.first { $0.description == "knn --pretrained $CK" }?.args,
                       ["knn", "--pretrained", "runs/fmnist-rop-<time>/checkpoint.safetensors"])
        XCTAssertEqual(examples.first { $0.description == "pretrain --print-config" }?.stdout, "my.yaml")
        XCTAssertEqual(names.filter { $0.hasPrefix("visualize --checkpoint runs/") }.count, 3, "a && b gives two examples")
        XCTAssertFalse(names.contains { $0.contains("#") || $0.contains("python") }, "comments and other tools are dropped")
        // The extractor itself, on a block written for it.
        let text = "```sh\nX=1\nropim a --b $X   # comment\nswift build && .build/release/ropim c \\\n  --d 'e f' > out.txt\n```\n```\nropim not-sh\n```"
        let got = try Readme.examples(text)
        XCTAssertEqual(got.map(\.args), [["a", "--b", "1"], ["c", "--d", "e f"]])
        XCTAssertEqual(got.last?.stdout, "out.txt")
    }

    /// (c) Each README example parses with the real command types; --help exits cleanly.
    func testEveryReadmeExampleParses() throws {
        for e in try Readme.examples() {
            do {
                _ = try Ropim.parseAsRoot(e.args)
            } catch {
                XCTAssertEqual(Ropim.exitCode(for: error), .success,
                               "README.md:\(e.line): `ropim \(e)` no longer parses: \(Ropim.fullMessage(for: error))")
            }
        }
    }

    /// The examples in each command's --help parse too.
    func testHelpExamplesParse() throws {
        func all(_ c: ParsableCommand.Type) -> [ParsableCommand.Type] { [c] + c.configuration.subcommands.flatMap(all) }
        var count = 0
        for command in all(Ropim.self) {
            for line in command.configuration.discussion.components(separatedBy: "\n") {
                let text = line.trimmingCharacters(in: .whitespaces)
                guard text.hasPrefix("ropim ") else { continue }
                for segment in Readme.split(text, on: "&&") {
                    let args = Array(Readme.tokens(segment).dropFirst())
                    count += 1
                    do { _ = try Ropim.parseAsRoot(args) } catch {
                        XCTFail("\(command) --help: `\(text)` does not parse: \(Ropim.fullMessage(for: error))")
                    }
                }
            }
        }
        XCTAssertGreaterThan(count, 15, "the commands' help examples were found")
    }

    /// (a) Each README example resolves to the config it promises. Fixtures stand at the README's own paths
    /// (`runs/fmnist-rop-<time>` is a legal folder name) in a scratch working directory; the checks run in
    /// README order, so a fixture can change between two examples as the README's story does.
    func testReadmeExamplesResolveToTheirConfigs() throws {
        let s = try Scratch()
        try Tiny.checkpoint(s.path("runs/fmnist-rop-<time>/checkpoint.safetensors"))
        let fm = FileManager.default
        let saved = fm.currentDirectoryPath
        XCTAssert(fm.changeCurrentDirectoryPath(s.dir))
        defer { fm.changeCurrentDirectoryPath(saved) }

        let fmnist = Preset.fmnist.config
        func pretrain(_ cmd: ParsableCommand) throws -> PretrainConfig { try (cmd as! Pretrain).resolve().config }
        func frozen(_ cmd: ParsableCommand) throws -> FrozenFeaturesConfig {
            try ((cmd as? Linprobe)?.resolve() ?? (cmd as! KNNCommand).resolve()).0
        }
        func finetune(_ cmd: ParsableCommand) throws -> FinetuneConfig {
            let f = cmd as! Finetune
            return try f.resolve(try f.common.checkpoint())
        }
        let ck = "runs/fmnist-rop-<time>/checkpoint.safetensors"
        // One check per example, in README order (a repeated example takes the next one).
        var checks: [String: [(ParsableCommand) throws -> Void]] = [:]
        func expect(_ example: String, _ check: @escaping (ParsableCommand) throws -> Void) { checks[example, default: []].append(check) }

        expect("pretrain --epochs 1") { let c = try pretrain($0); XCTAssertEqual(c.optim.epochs, 1); XCTAssertEqual(c.model, fmnist.model) }
        expect("pretrain --epochs 1 --corruption mae") {
            let c = try pretrain($0)
            XCTAssertEqual(c.optim.epochs, 1); XCTAssertEqual(c.method.corruption, .mae); XCTAssertEqual(c.data.dataset, fmnist.data.dataset)
        }
        expect("presets") { XCTAssert($0 is Presets) }
        expect("pretrain --help") { XCTAssertEqual("\(type(of: $0))", "HelpCommand", "--help resolves to the help text") }
        expect("pretrain") { XCTAssertEqual(try pretrain($0), fmnist) }
        expect("pretrain --corruption mask") { XCTAssertEqual(try pretrain($0).method.corruption, .mask) }
        expect("pretrain --corruption mae") {
            let c = try pretrain($0)
            XCTAssertEqual([c.method.corruption.rawValue, c.model.relPosBias.rawValue, c.model.posEmbed.rawValue], ["mae", "none", "sincos"])
        }
        expect("pretrain --loss mse --sketch-size 7") { let c = try pretrain($0); XCTAssertEqual(c.method.loss, .mse); XCTAssertEqual(c.method.sketchSize, 7) }
        expect("pretrain --epochs 1 --subset 10000 --seed 3") {
            let c = try pretrain($0)
            XCTAssertEqual([c.optim.epochs, c.data.subset, c.run.seed], [1, 10000, 3])
        }
        expect("pretrain --print-config") {
            let c = try pretrain($0)
            XCTAssert(($0 as! Pretrain).printConfig)
            try ConfigLoader.yaml(c).write(toFile: "my.yaml", atomically: true, encoding: .utf8)   // the README's `> my.yaml`
        }
        expect("pretrain --config my.yaml --set optim.batch_size=64") {
            var c = try pretrain($0)
            XCTAssertEqual(c.optim.batchSize, 64)
            c.optim.batchSize = fmnist.optim.batchSize
            XCTAssertEqual(c, fmnist, "the printed config loads back to the same config")
        }
        expect("knn --pretrained $CK") {
            let c = try frozen($0)
            XCTAssertEqual(c.pretrained, ck)
            XCTAssertEqual(c.model, Tiny.config.model, "the architecture comes from the checkpoint")
            XCTAssertEqual([c.data.dataset.rawValue, c.data.path], ["idx", "/usr/share/datasets/fashion-mnist"], "so does the data")
            XCTAssertEqual([c.probe.k, c.probe.block], [20, -1]); XCTAssertEqual(c.probe.temperature, 0.07)
        }
        expect("linprobe --pretrained $CK") {
            let c = try frozen($0)
            XCTAssertEqual(c.probe.features, .pretrained); XCTAssertEqual(c.probe.epochs, 100); XCTAssertEqual(c.pretrained, ck)
        }
        expect("linprobe --pretrained $CK --features random") { XCTAssertEqual(try frozen($0).probe.features, .random) }
        expect("linprobe --features pixels") {
            let c = try frozen($0)
            XCTAssertEqual(c.probe.features, .pixels); XCTAssertEqual(c.pretrained, "")
            XCTAssertEqual(c.data.path, "/usr/share/datasets/fashion-mnist")
        }
        expect("finetune --pretrained $CK --epochs 3") {
            let c = try finetune($0)
            XCTAssertEqual(c.optim.epochs, 3); XCTAssertEqual(c.pretrained, ck)
            XCTAssertEqual(c.model.relPosBias, .perBlock, "the shared table becomes per-block")
            XCTAssertEqual(c.model.depth, 1); XCTAssertEqual(c.optim.layerDecay, 0.75)
        }
        expect("finetune --epochs 3") { let c = try finetune($0); XCTAssertEqual(c.optim.epochs, 3); XCTAssertEqual(c.pretrained, "") }
        expect("pretrain --knn-every 1") { XCTAssertEqual(try pretrain($0).run.knnEvery, 1) }
        expect("linprobe --pretrained $CK --subset 20000 --holdout 10000") {
            let c = try frozen($0)
            XCTAssertEqual([c.data.subset, c.data.holdout, c.data.testSubset], [20000, 10000, 0]); XCTAssertEqual(c.data.evaluationSplit, "held-out")
        }
        expect("bench-data --workers 2") { XCTAssertEqual(($0 as! BenchData).settings.workers, 2) }
        expect("visualize --checkpoint runs/fmnist-rop-<time> --count 8 --seed 0 --split test --output grid.png") {
            let v = $0 as! Visualize
            let (ckpt, data) = try v.resolve()
            XCTAssertEqual(ckpt.path, ck, "a run directory names its checkpoint.safetensors")
            XCTAssertEqual(data.dataset, .idx)
            XCTAssertEqual([v.count, v.seed], [8, 0]); XCTAssertEqual(v.split, .test); XCTAssertEqual(v.output, "grid.png")
            try Tiny.checkpoint(s.path("runs/a/checkpoint.safetensors")); try Tiny.checkpoint(s.path("runs/b/checkpoint.safetensors"))
        }
        for run in ["a", "b"] {
            expect("visualize --checkpoint runs/\(run) --error-max 2.5 --output \(run).png") {
                let v = $0 as! Visualize
                XCTAssertEqual(try v.resolve().0.path, "runs/\(run)/checkpoint.safetensors"); XCTAssertEqual(v.errorMax, 2.5)
            }
        }
        expect("visualize --attention --checkpoint runs/fmnist-rop-<time> --count 4 --output attention.png") {
            let v = $0 as! Visualize
            let (ef, data) = try v.resolveEncoder()
            XCTAssert(v.attention); XCTAssertEqual(ef.path, ck); XCTAssertEqual(data.split, "test"); XCTAssertEqual(v.count, 4)
        }
        expect("analyze embedding --checkpoint runs/fmnist-rop-<time> --checkpoint runs/fmnist-mask-<time> --name ROPIM --name SimMIM --output embedding/") {
            let a = $0 as! AnalyzeEmbedding
            XCTAssertEqual(a.checkpoints.map(\.path), ["runs/fmnist-rop-<time>", "runs/fmnist-mask-<time>"]); XCTAssertEqual(a.names, ["ROPIM", "SimMIM"])
            XCTAssertEqual(a.title(1, path: "runs/fmnist-mask-<time>/checkpoint.safetensors"), "SimMIM"); XCTAssertEqual(a.pooling, .avg)
        }
        expect("analyze corruption --count 1000 --output corruption/") {
            let a = $0 as! AnalyzeCorruption
            let c = try a.resolve()
            XCTAssertEqual(a.count, 1000); XCTAssertEqual(c.method.corruption, .rop); XCTAssertEqual(c.data.dataset, .idx)
        }
        expect("analyze corruption --preset cifar --dataset synthetic --set method.sketch_size=16 --output cifar-corruption/") {
            let c = try ($0 as! AnalyzeCorruption).resolve()
            XCTAssertEqual(c.method.sketchSize, 16); XCTAssertEqual(c.data.dataset, .synthetic); XCTAssertEqual(c.model.imgSize, 32)
        }
        expect("plot runs/fmnist-rop-<time> runs/fmnist-mask-<time> --smooth 10 --output curves") {
            let p = $0 as! Plot
            XCTAssertEqual(p.runs.count, 2); XCTAssertEqual(p.smooth, 10)
        }
        expect("plot runs/a runs/b --metric knn_top1 --x epoch --output knn") {
            let p = $0 as! Plot
            XCTAssertEqual(p.runs, ["runs/a", "runs/b"]); XCTAssertEqual(p.metric, ["knn_top1"]); XCTAssertEqual(p.x, "epoch")
        }
        expect("pretrain --output runs/a") {
            try fm.removeItem(atPath: "runs/a")   // a new run …
            let r = try ($0 as! Pretrain).resolve()
            XCTAssertNil(r.resume); XCTAssertEqual(r.config.run.output, "runs/a")
            try Tiny.resumable(in: "runs/a", step: 468)   // … that Ctrl-C stopped at step 468
        }
        expect("pretrain --output runs/a") {
            let r = try ($0 as! Pretrain).resolve()
            XCTAssertEqual(r.resume, "runs/a/ckpt-00000468", "an unfinished run directory is resumed")
            XCTAssertEqual(r.config.model, Tiny.config.model, "with its own saved config")
        }
        expect("pretrain --resume runs/a/ckpt-00000468 --max-steps 1000") {
            let r = try ($0 as! Pretrain).resolve()
            XCTAssertEqual(r.resume, "runs/a/ckpt-00000468"); XCTAssertEqual(r.config.optim.maxSteps, 1000)
            XCTAssertEqual(r.state?.step, 468)
        }
        expect("inspect runs/a") {
            let p = try ($0 as! Inspect).path.resolved()
            XCTAssertEqual(p.kind, .unfinishedRun); XCTAssertEqual(p.file, "runs/a/ckpt-00000468/model.safetensors")
        }
        expect("export runs/a --format beit --output exported") {
            let e = $0 as! Export
            XCTAssertEqual(try e.checkpoint.resolved().file, "runs/a/ckpt-00000468/model.safetensors"); XCTAssertEqual(e.format, .beit)
            try Interchange.export(try ExportSource(path: "runs/a"), format: .beit, to: "exported")
        }
        expect("embed --checkpoint exported --count 64 --save-inputs --output feats.safetensors") {
            let e = $0 as! Embed
            let (ef, data) = try e.resolve()
            XCTAssertEqual(ef.config, Tiny.config.model.withoutDropPath, "the architecture comes from config.json")
            XCTAssertEqual([data.split, data.path], ["test", "/usr/share/datasets/fashion-mnist"])
            XCTAssertEqual(e.settings.count, 64); XCTAssert(e.settings.saveInputs)
        }
        expect("import exported --output runs/from-timm") {
            let c = try ($0 as! Import).resolve()
            XCTAssertEqual(c.model, Tiny.config.model.withoutDropPath); XCTAssertEqual(c.run.output, "runs/from-timm")
        }
        expect("pretrain --threads 1 --batch-size 64 --epochs 1") {   // under mpirun -np 2
            let c = try ($0 as! Pretrain).resolve(worldSize: 2).config
            XCTAssertEqual(c.run.threads, 1); XCTAssertEqual(c.optim.epochs, 1)
            XCTAssertEqual(c.optim.globalBatch(worldSize: 2), 128, "2 ranks × 64 = the single-process batch of 128")
        }
        expect("pretrain --threads 8 --data /shared/in100 --output /shared/runs/a") {   // 8 ranks from a hostfile
            let p = $0 as! Pretrain
            XCTAssertEqual(p.data.data, "/shared/in100"); XCTAssertEqual(p.runFlags.threadFlags.threads, 8); XCTAssertEqual(p.runFlags.output, "/shared/runs/a")
        }

        let examples = try Readme.examples()
        var used: [String: Int] = [:]
        for e in examples {
            let key = e.description
            guard let list = checks[key], let check = list.dropFirst(used[key, default: 0]).first else {
                XCTFail("README.md:\(e.line): `ropim \(key)` has no expectation here; add one to testReadmeExamplesResolveToTheirConfigs")
                continue
            }
            used[key, default: 0] += 1
            let command: ParsableCommand
            do { command = try Ropim.parseAsRoot(e.args) } catch {
                XCTAssertEqual(Ropim.exitCode(for: error), .success, "README.md:\(e.line): \(Ropim.fullMessage(for: error))")
                continue
            }
            do { try check(command) } catch { XCTFail("README.md:\(e.line): `ropim \(key)`: \(error)") }
        }
        for (key, list) in checks where used[key, default: 0] < list.count {
            XCTFail("`ropim \(key)` is no longer in README.md; remove its expectation")
        }
    }

    /// (b) The examples that fit in test time, run by the built binary in a scratch folder, as written where
    /// they are quick. Where an example would train for minutes, `Tiny.flags` (the same command on a 16-wide,
    /// one-block model and 64 synthetic images) or a shorter schedule is appended, as each line says.
    func testReadmeExamplesRunEndToEnd() throws {
        let s = try Scratch()
        XCTAssert(try s.ok(["presets"]).contains("fmnist"))                                          // as written
        let help = try s.ok(["pretrain", "--help"])                                                    // as written
        XCTAssert(help.contains("--knn-every") && help.contains("--resume") && !help.contains("--test-subset"), help)
        try s.ok(["pretrain", "--print-config"]).write(toFile: s.path("my.yaml"), atomically: true, encoding: .utf8)  // as written
        // pretrain --config my.yaml --set optim.batch_size=64, tiny and 2 steps
        try s.ok(["pretrain", "--config", "my.yaml", "--set", "optim.batch_size=64"] + Tiny.flags.dropLast(2) + ["--max-steps", "2", "--output", "runs/my"])
        XCTAssert(s.exists("runs/my/checkpoint.safetensors"))

        // pretrain --output runs/a, tiny, one epoch: stopped after 2 of its 4 steps (what Ctrl-C leaves: no final checkpoint) …
        try s.ok(["pretrain", "--output", "runs/a"] + Tiny.flags + ["--epochs", "1", "--max-steps", "2"])
        try FileManager.default.removeItem(atPath: s.path("runs/a/checkpoint.safetensors"))
        // … and the same command again resumes it (as written: the run keeps its own tiny config) and finishes.
        XCTAssert(try s.ok(["pretrain", "--output", "runs/a"]).contains("resuming runs/a/ckpt-00000002 at step 2"))
        XCTAssert(s.exists("runs/a/checkpoint.safetensors"))
        for copy in ["b", "fmnist-rop-<time>", "fmnist-mask-<time>"] {
            try FileManager.default.copyItem(atPath: s.path("runs/a"), toPath: s.path("runs/" + copy))
        }
        XCTAssert(try s.ok(["inspect", "runs/a"]).contains("run directory: final checkpoint"))           // as written
        try s.ok(["export", "runs/a", "--format", "beit", "--output", "exported"])                       // as written
        XCTAssert(s.exists("exported/config.json") && s.exists("exported/model.safetensors"))
        try s.ok(["embed", "--checkpoint", "exported", "--count", "64", "--save-inputs", "--output", "feats.safetensors"])  // as written
        XCTAssert(try s.ok(["import", "exported", "--output", "runs/from-timm"]).contains("wrote runs/from-timm/checkpoint.safetensors"))   // as written
        try s.ok(["visualize", "--checkpoint", "runs/fmnist-rop-<time>", "--count", "8", "--seed", "0", "--split", "test", "--output", "grid.png"])  // as written
        try s.ok(["visualize", "--checkpoint", "runs/a", "--error-max", "2.5", "--output", "a.png"])      // as written
        try s.ok(["visualize", "--checkpoint", "runs/b", "--error-max", "2.5", "--output", "b.png"])      // as written
        let attention = try s.ok(["visualize", "--attention", "--checkpoint", "runs/fmnist-rop-<time>", "--count", "4", "--output", "attention.png"])  // as written
        XCTAssert(attention.contains("rollout peaks at patch") && s.exists("attention.png"), attention)
        // analyze embedding, on 64 synthetic images (the tiny run's data)
        let embedding = try s.ok(["analyze", "embedding", "--checkpoint", "runs/fmnist-rop-<time>", "--checkpoint", "runs/fmnist-mask-<time>",
                                  "--name", "ROPIM", "--name", "SimMIM", "--output", "embedding/", "--count", "64"])
        XCTAssert(embedding.contains("between-class share") && s.exists("embedding/embedding.png") && s.exists("embedding/embedding.csv"), embedding)
        try s.ok(["visualize", "--attention", "--checkpoint", "exported", "--count", "2", "--output", "attention-export.png"])   // a model directory
        try s.ok(["plot", "runs/fmnist-rop-<time>", "runs/fmnist-mask-<time>", "--smooth", "10", "--output", "curves"])  // as written
        XCTAssert(s.exists("curves.png") && s.exists("curves.svg"))
        try s.ok(["analyze", "corruption", "--count", "1000", "--output", "corruption/"])                  // as written
        XCTAssert(s.exists("corruption/kept_energy.png"))

        // pretrain --corruption mae, tiny, 2 steps; its encoder exports and imports like any other
        try s.ok(["pretrain", "--corruption", "mae", "--output", "runs/mae"] + Tiny.flags + ["--max-steps", "2"])
        try s.ok(["export", "runs/mae", "--format", "timm", "--output", "mae-export"])
        XCTAssert(try s.ok(["import", "mae-export", "--output", "runs/mae-import"]).contains("wrote runs/mae-import/checkpoint.safetensors"))
        try s.ok(["visualize", "--checkpoint", "runs/mae", "--count", "4", "--output", "mae.png"])

        // The evaluations of $CK (the tiny run, trained on 64 synthetic images): 64 synthetic images again.
        let ck = "runs/fmnist-rop-<time>/checkpoint.safetensors", few = ["--set", "data.synthetic_count=64"]
        XCTAssert(try s.ok(["knn", "--pretrained", ck] + few).contains("summary:"))
        XCTAssert(try s.ok(["linprobe", "--pretrained", ck] + few + ["--output", "runs/lp"]).contains("summary:"))
        try s.ok(["linprobe", "--pretrained", ck, "--features", "random"] + few + ["--output", "runs/lp-random"])
        // linprobe --features pixels reads Fashion-MNIST: 256 + 64 of its images, 2 epochs.
        try s.ok(["linprobe", "--features", "pixels", "--subset", "256", "--test-subset", "64", "--epochs", "2"])
        try s.ok(["finetune", "--pretrained", ck, "--epochs", "3"] + few + ["--batch-size", "16", "--output", "runs/ft"])
        // finetune's best.safetensors is a checkpoint every command takes: k-NN on the fine-tuned encoder.
        XCTAssert(try s.ok(["knn", "--pretrained", "runs/ft/best.safetensors"] + few + ["--output", "runs/knn-ft"]).contains("fine-tuned classifier"))
        // finetune --epochs 3 from scratch, tiny
        try s.ok(["finetune", "--epochs", "3"] + Tiny.flags.dropLast(2) + ["--set", "data.synthetic_count=32", "--batch-size", "16"])
        // pretrain --knn-every 1, tiny, one epoch, k-NN on 64 / 16 images
        let knn = try s.ok(["pretrain", "--knn-every", "1"] + Tiny.flags + ["--epochs", "1", "--set", "run.knn_train_subset=64", "--set", "run.knn_test_subset=16",
                            "--output", "runs/knn"])
        XCTAssert(knn.contains("knn_top1"), knn)
        // plot --metric knn_top1 --x epoch, on that run (runs/a and runs/b logged no k-NN)
        XCTAssert(try s.ok(["plot", "runs/knn", "--metric", "knn_top1", "--x", "epoch", "--output", "knn"]).contains("panels: knn_top1 against epoch"))
        XCTAssert(s.exists("knn.png") && s.exists("knn.svg"))
        // linprobe --subset 20000 --holdout 10000, scaled to the 64 synthetic images: 40 train, 16 held out
        let held = try s.ok(["linprobe", "--pretrained", ck, "--subset", "40", "--holdout", "16", "--epochs", "2"] + few + ["--output", "runs/lp-held"])
        XCTAssert(held.contains("\"evaluation\":\"held-out\"") && held.contains("\"test_images\":16"), held)
        // bench-data --workers 2, on 16 small JPEGs, without the vit-tiny training step
        try s.ok(["bench-data", "--workers", "2", "--count", "16", "--source-size", "32", "--size", "16", "--batch", "4", "--steps", "0"])
    }
}

extension ViTConfig {
    /// The architecture as an export's config.json carries it (drop path is a training setting, not stored).
    var withoutDropPath: ViTConfig { var v = self; v.dropPathRate = 0; return v }
}
