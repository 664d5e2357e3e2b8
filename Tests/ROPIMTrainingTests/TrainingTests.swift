import XCTest
import Foundation
import ROPIMKernels
import ROPIMData
import ROPIMNN
import ROPIMCore
@testable import ROPIMTraining
import ROPIMOptim
import ROPIMFiles
import ROPIMConfig

final class TrainerTests: XCTestCase {
    func tinyConfig() -> PretrainConfig {
        var c = PretrainConfig()
        c.model.imgSize = 8; c.model.patchSize = 2; c.model.inChans = 1
        c.model.embedDim = 16; c.model.depth = 2; c.model.numHeads = 2
        c.method.sketchSize = 4; c.method.maskPatchSize = 4
        c.data.dataset = .synthetic; c.data.syntheticCount = 64
        c.data.normalization = Normalization(mean: [0.5], std: [0.25])
        c.optim.batchSize = 8; c.optim.epochs = 2; c.optim.warmupEpochs = 0.5; c.optim.baseLR = 0.05
        c.run.seed = 3
        return c
    }

    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "ropim-test-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    func run(_ c: PretrainConfig, compute: ComputeContext = .serial) throws -> (losses: [Double], summary: TrainSummary) {
        let trainer = try PretrainTrainer(config: c, dataset: try c.loadDataset(compute: compute), compute: compute)
        var losses: [Double] = []
        let summary = try trainer.train(runDirectory: tempDir(), progress: Progress()) { losses.append($1) }
        return (losses, summary)
    }

    /// The same images every step: each corruption's loss must fall well below its start.
    func testLossFallsOnAFixedBatch() throws {
        for kind in [ObjectiveName.rop, .mask, .none, .complementInput] {
            var c = tinyConfig()
            c.method.corruption = kind
            c.model.dropPathRate = 0
            c.data.syntheticCount = 8; c.data.augment.randomResizedCrop = false; c.data.augment.horizontalFlip = false
            c.optim.epochs = 40; c.optim.warmupEpochs = 2; c.optim.baseLR = 0.2; c.optim.minLR = 0.2
            let (losses, _) = try run(c)
            XCTAssertEqual(losses.count, 40)
            let start = losses.prefix(3).reduce(0, +) / 3, end = losses.suffix(3).reduce(0, +) / 3
            XCTAssertLessThan(end, 0.7 * start, "\(kind): loss \(start) → \(end)")
        }
    }

    func testSameSeedSameLossesAndDifferentSeedDiffers() throws {
        let c = tinyConfig()
        let a = try run(c).losses, b = try run(c).losses
        XCTAssertEqual(a, b)
        var d = c; d.run.seed = 4
        XCTAssertNotEqual(try run(d).losses, a)
        // Two threads: GEMMs split, per-image loops parallel; still reproducible run to run.
        let two = ComputeContext(threads: 2)
        let t1 = try run(c, compute: two).losses, t2 = try run(c, compute: two).losses
        XCTAssertEqual(t1, t2)
        for (x, y) in zip(t1, a) { XCTAssertEqual(x, y, accuracy: 1e-3 * abs(y)) }
    }

    /// Gray Fashion-MNIST-style data replicated to 3 input channels with one shared mean/std.
    func testGrayDataReplicatedToThreeChannels() throws {
        var c = tinyConfig()
        c.model.inChans = 3; c.optim.maxSteps = 2
        let gray = SyntheticImages.make(count: 64, channels: 1, size: 8, classes: 4, seed: 1, compute: .serial)
        let trainer = try PretrainTrainer(config: c, dataset: gray, compute: .serial)
        let s = try trainer.train(runDirectory: tempDir(), progress: Progress())
        XCTAssert(s.lastLoss.isFinite)
        var wrong = c; wrong.data.normalization = Normalization(mean: [0.5, 0.5], std: [0.2, 0.2])
        XCTAssertThrowsError(try wrong.validate()) { XCTAssert("\($0)".contains("data.normalization"), "\($0)") }
    }

    /// Two micro-batches of 4 accumulate to the gradient of one batch of 8 (no randomness in the model).
    func testGradientAccumulationEqualsTheLargerBatch() throws {
        var c = tinyConfig()
        c.method.corruption = .none; c.model.dropPathRate = 0
        let model = try Objectives.make(vit: c.model, method: c.method)
        var rng = RNG(seed: 1)
        model.initialize(rng: &rng)
        let data = try c.loadDataset(compute: .serial)
        let big = Tensor(shape: [8, 1, 8, 8]), half = Tensor(shape: [4, 1, 8, 8])
        makeBatch(data, indices: Array(0..<8), size: 8, outChannels: 1, augment: nil, normalization: c.data.normalization, rng: &rng, into: big, compute: .serial)
        model.params.zeroGrads()
        _ = model.forward(images: big, batch: 8, training: true, rng: &rng, compute: .serial)
        model.backward(compute: .serial)
        let full = model.params.grads.array
        model.params.zeroGrads()
        for part in 0..<2 {
            half.data.update(from: big.data + part * 4 * 64, count: 4 * 64)
            _ = model.forward(images: half, batch: 4, training: true, rng: &rng, compute: .serial)
            model.backward(lossScale: 0.5, compute: .serial)
        }
        let accumulated = model.params.grads.array
        let scale = full.map(abs).max()!
        for i in 0..<full.count { XCTAssertEqual(accumulated[i], full[i], accuracy: 1e-5 * scale) }
    }

    func testTrainerWritesMetricsAndALoadableCheckpoint() throws {
        var c = tinyConfig()
        c.optim.maxSteps = 5
        let trainer = try PretrainTrainer(config: c, dataset: try c.loadDataset(compute: .serial), compute: .serial)
        let dir = tempDir()
        let summary = try trainer.train(runDirectory: dir, progress: Progress())
        XCTAssertEqual(summary.steps, 5)
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 5)
        let rec = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        for key in ["step", "epoch", "loss", "lr", "grad_norm", "images_per_second"] { XCTAssertNotNil(rec[key], key) }
        let (tensors, meta) = try SafeTensors.read(summary.checkpoint)
        XCTAssertEqual(meta["step"], "5")
        XCTAssertEqual(tensors.map(\.name), trainer.model.params.entries.map(\.name))
        let back = try ConfigLoader.load(PretrainConfig.self, yaml: meta["config"]!, file: "checkpoint", defaults: PretrainConfig())
        XCTAssertEqual(back, c)
        for (t, e) in zip(tensors, trainer.model.params.entries) {
            XCTAssertEqual(t.shape, e.shape)
            XCTAssertEqual(t.values, Array(UnsafeBufferPointer(start: trainer.model.params.value(e.ref), count: e.ref.count)))
        }
        XCTAssertThrowsError(try RunDirectory.create(dir)) { XCTAssert("\($0)".contains("already holds a finished run")) }
    }

    func testDivergenceStopsWithAClearMessage() throws {
        var c = tinyConfig()
        c.optim.baseLR = 1e6; c.optim.warmupEpochs = 0; c.optim.clipGrad = 0
        XCTAssertThrowsError(try run(c)) { e in
            XCTAssert("\(e)".contains("diverged") && "\(e)".contains("base_lr"), "\(e)")
        }
    }

    func testBadConfigsGiveClearErrors() throws {
        XCTAssertThrowsError(try ConfigLoader.load(PretrainConfig.self, yaml: "model:\n  dpeth: 4\n", file: "my.yaml", defaults: Preset.fmnist.config)) {
            XCTAssert("\($0)".contains("line 2") && "\($0)".contains("model.depth"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.load(PretrainConfig.self, yaml: "model: [1, 2\n", file: "my.yaml", defaults: Preset.fmnist.config)) {
            XCTAssert("\($0)".contains("my.yaml") && "\($0)".contains("line"), "\($0)")
        }
        // An enum value: the accepted values are listed (fault-21), from a file and from --set.
        XCTAssertThrowsError(try ConfigLoader.load(PretrainConfig.self, yaml: "model:\n  pos_embed: rope\n", file: "enum.yaml", defaults: Preset.fmnist.config)) {
            XCTAssert("\($0)".contains("enum.yaml, line 2: 'model.pos_embed' has an invalid value 'rope'; accepted values: none, learned, sincos"), "\($0)")
        }
        XCTAssertThrowsError(try ConfigLoader.apply(["model.rel_pos_bias=block"], to: Preset.fmnist.config, origin: "--set")) {
            XCTAssert("\($0)".contains("accepted values: shared, per-block, none"), "\($0)")
        }
        var c = Preset.fmnist.config; c.method.sketchSize = 8
        XCTAssertThrowsError(try c.validate()) { XCTAssert("\($0)".contains("does not divide the token count K=49")) }
        c = Preset.fmnist.config; c.data.path = "/nonexistent/fmnist"
        XCTAssertThrowsError(try c.loadDataset(compute: .serial)) { XCTAssert("\($0)".contains("/nonexistent/fmnist"), "\($0)") }
        c = tinyConfig(); c.data.syntheticCount = 4
        XCTAssertThrowsError(try run(c)) { XCTAssert("\($0)".contains("fewer than one batch"), "\($0)") }
    }

    /// Numbers a user can type (here as --set overrides, the CLI's path): NaN, inf, huge, zero and negative
    /// values are refused by the key's owner with the key in the message, before anything is allocated
    /// or sampled (these used to hang, trap or pass silently).
    func testEveryNumericKeyIsRangeCheckedByItsOwner() throws {
        let cases: [(String, String)] = [
            ("model.init_std=.nan", "model.init_std"), ("model.init_std=1e6", "model.init_std"),
            ("model.mlp_ratio=.nan", "model.mlp_ratio"), ("model.mlp_ratio=1e30", "model.mlp_ratio"),
            ("model.mlp_ratio=1e-9", "model.mlp_ratio"), ("model.layer_scale_init=.nan", "model.layer_scale_init"),
            ("model.embed_dim=1000000000", "model.embed_dim"), ("model.img_size=100000", "model.img_size"),
            ("model.img_size=4000", "tokens per image"), ("model.drop_path_rate=.nan", "model.drop_path_rate"),
            ("optim.warmup_epochs=.nan", "optim.warmup_epochs"), ("optim.warmup_epochs=.inf", "optim.warmup_epochs"),
            ("optim.epochs=9223372036854775807", "optim.epochs"), ("optim.weight_decay=-5", "optim.weight_decay"),
            ("optim.clip_grad=-1", "optim.clip_grad"), ("optim.base_lr=.nan", "optim.base_lr"),
            ("method.reference_scale=.nan", "method.reference_scale"), ("data.synthetic_count=-1", "data.synthetic_count"),
            ("data.normalization.std=[.nan]", "data.normalization"), ("run.knn_temperature=.nan", "run.knn_temperature"),
            ("run.log_every=0", "run.log_every"),
        ]
        for (override, key) in cases {
            let c = try ConfigLoader.apply([override], to: Preset.fmnist.config, origin: "--set")
            XCTAssertThrowsError(try c.validate(), override) { XCTAssertTrue("\($0)".contains(key), "\(override): \($0)") }
        }
        for override in ["method.mask_patch_size=0", "method.mask_patch_size=-4"] {
            let c = try ConfigLoader.apply([override, "method.corruption=mask"], to: Preset.fmnist.config, origin: "--set")
            XCTAssertThrowsError(try c.validate(), override) { XCTAssertTrue("\($0)".contains("method.mask_patch_size"), "\($0)") }
        }
        XCTAssertNoThrow(try Preset.fmnist.config.validate())
    }

    func testEveryPresetIsValidAndRoundTripsThroughYAML() throws {
        for p in Preset.allCases {
            let c = p.config
            XCTAssertNoThrow(try c.validate(), p.rawValue)
            let yaml = try ConfigLoader.yaml(c)
            XCTAssertEqual(try ConfigLoader.load(PretrainConfig.self, yaml: yaml, file: "resolved", defaults: PretrainConfig()), c)
        }
        XCTAssertEqual(Preset.fmnist.config.model.numPatches, 49)
        XCTAssertEqual(Preset.vitTiny.config.model.numPatches, 196)
        XCTAssertEqual(Preset.vitTiny.config.method.sketchSize, 28)
    }
}

final class CheckpointTests: XCTestCase {
    func testPretrainCheckpointRoundTripAndErrors() throws {
        var c = PretrainConfig()
        c.model.imgSize = 8; c.model.patchSize = 2; c.model.embedDim = 8; c.model.depth = 1; c.model.numHeads = 2
        c.method.sketchSize = 4
        let model = try Objectives.make(vit: c.model, method: c.method)
        var rng = RNG(seed: 2)
        model.initialize(rng: &rng)
        let path = NSTemporaryDirectory() + "ck-\(UUID().uuidString).safetensors"
        try saveCheckpoint(model: model, config: c, step: 7, to: path)
        let back = try PretrainCheckpoint(path: path)
        XCTAssertEqual(back.config, c)
        XCTAssertEqual(back.step, 7)
        XCTAssertEqual(back.model.params.values.array, model.params.values.array)
        // The same weights into an encoder-only store with the prefix stripped: decoder keys are unexpected.
        let store = ParameterStore()
        _ = VisionTransformer(config: c.model, params: store)
        store.allocate()
        let (tensors, _) = try SafeTensors.read(path)
        let report = try store.load(tensors, source: path) { $0.hasPrefix("encoder.") ? String($0.dropFirst(8)) : nil }
        XCTAssert(report.missing.isEmpty, "\(report)")
        XCTAssertEqual(Set(report.unexpected), ["decoder.0.weight", "decoder.0.bias"])
        // Another architecture: a clear error naming the tensor.
        var other = c.model; other.embedDim = 12
        let wrong = ParameterStore()
        _ = VisionTransformer(config: other, params: wrong)
        wrong.allocate()
        XCTAssertThrowsError(try wrong.load(tensors, source: path) { $0.hasPrefix("encoder.") ? String($0.dropFirst(8)) : nil }) {
            XCTAssert("\($0)".contains("another architecture"), "\($0)")
        }
        XCTAssertThrowsError(try PretrainCheckpoint(path: path + ".nope")) { XCTAssert("\($0)".contains("not found")) }
    }
}

final class ResumeTests: XCTestCase {
    func config() -> PretrainConfig { Self.config() }

    /// 48 synthetic images, batch 8: 6 steps per epoch, 2 epochs, a resumable checkpoint every 4 steps.
    static func config() -> PretrainConfig {
        var c = PretrainConfig()
        c.model.imgSize = 8; c.model.patchSize = 2; c.model.inChans = 1
        c.model.embedDim = 16; c.model.depth = 2; c.model.numHeads = 2
        c.method.sketchSize = 4
        c.data.dataset = .synthetic; c.data.syntheticCount = 48
        c.data.normalization = Normalization(mean: [0.5], std: [0.25])
        c.optim.batchSize = 8; c.optim.epochs = 2; c.optim.warmupEpochs = 0.5; c.optim.baseLR = 0.05
        c.run.seed = 5; c.run.saveEvery = 4
        return c
    }

    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "ropim-resume-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Stop after step 5, resume from the run directory, finish: the same losses and the same weights,
    /// bit for bit, as one uninterrupted run (same thread count, 2: the count the checkpoint records is
    /// the run's context's).
    func testResumeEqualsUninterruptedRun() throws {
        let c = config()
        let two = ComputeContext(threads: 2)
        let data = try c.loadDataset(compute: two)
        var full: [Double] = []
        let a = try PretrainTrainer(config: c, dataset: data, compute: two)
        try a.train(runDirectory: tempDir(), progress: Progress()) { full.append($1) }
        XCTAssertEqual(full.count, 12)

        let dir = tempDir()
        var first = c; first.optim.maxSteps = 5
        var head: [Double] = []
        try PretrainTrainer(config: first, dataset: data, compute: two).train(runDirectory: dir, progress: Progress()) { head.append($1) }
        let ckpt = try RunCheckpoint.resolve(dir)
        XCTAssert(ckpt.hasSuffix("ckpt-00000005"), ckpt)
        XCTAssertEqual(try RunCheckpoint.state(at: ckpt).step, 5)
        XCTAssertEqual(try RunCheckpoint.state(at: ckpt).threads, 2)
        try FileManager.default.removeItem(atPath: dir + "/checkpoint.safetensors")
        let b = try PretrainTrainer(config: c, dataset: data, compute: two, resume: ckpt)
        var tail: [Double] = []
        try b.train(runDirectory: dir, progress: Progress()) { tail.append($1) }
        XCTAssertEqual(head + tail, full)
        XCTAssertEqual(b.model.params.values.array, a.model.params.values.array)
        XCTAssertEqual(b.optimizer.m.array, a.optimizer.m.array)
        // metrics.jsonl holds each step once.
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 12)
        // keep_last 2: only the newest two numbered checkpoints remain (plus ckpt-best).
        XCTAssertEqual(RunCheckpoint.complete(in: dir).map { URL(fileURLWithPath: $0).lastPathComponent }, ["ckpt-00000008", "ckpt-00000012"])
        XCTAssert(FileManager.default.fileExists(atPath: dir + "/ckpt-best/state.json"))
    }

    /// A kill during a save leaves a temporary directory or a directory without state.json: both are
    /// ignored and the previous checkpoint is used; a truncated weight file is a clear error.
    func testInterruptedSaveAndCorruptCheckpoint() throws {
        var c = config(); c.optim.maxSteps = 4
        let data = try c.loadDataset(compute: .serial)
        let dir = tempDir()
        try PretrainTrainer(config: c, dataset: data, compute: .serial).train(runDirectory: dir, progress: Progress())
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/.ckpt-00000006.tmp-999", withIntermediateDirectories: true)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: dir + "/.ckpt-00000006.tmp-999/model.safetensors"))
        try fm.createDirectory(atPath: dir + "/ckpt-00000007", withIntermediateDirectories: true)
        let ckpt = try RunCheckpoint.resolve(dir)
        XCTAssert(ckpt.hasSuffix("ckpt-00000004"), ckpt)
        XCTAssertNoThrow(try PretrainTrainer(config: c, dataset: data, compute: .serial, resume: ckpt))
        let weights = ckpt + "/model.safetensors"
        let bytes = fm.contents(atPath: weights)!
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: weights))
        XCTAssertThrowsError(try PretrainTrainer(config: c, dataset: data, compute: .serial, resume: ckpt)) {
            XCTAssert("\($0)".contains("model.safetensors") && "\($0)".contains("truncated"), "\($0)")
        }
        XCTAssertThrowsError(try RunCheckpoint.resolve(dir + "/nope")) { XCTAssert("\($0)".contains("no such checkpoint")) }
        // Another architecture: the shapes do not fit.
        var other = c; other.model.embedDim = 8
        try bytes.write(to: URL(fileURLWithPath: weights))
        XCTAssertThrowsError(try PretrainTrainer(config: other, dataset: data, compute: .serial, resume: ckpt)) {
            XCTAssert("\($0)".contains("another architecture"), "\($0)")
        }
        // The next successful save removes the stale temporary directory.
        let t = try PretrainTrainer(config: c, dataset: data, compute: .serial, resume: dir + "/ckpt-00000004")
        let state = try RunCheckpoint.state(at: dir + "/ckpt-00000004")
        try RunCheckpoint.save(model: t.model, optimizer: t.optimizer, state: state, in: dir, keepLast: 2, best: false)
        XCTAssertFalse(fm.fileExists(atPath: dir + "/.ckpt-00000006.tmp-999"))
    }
}
