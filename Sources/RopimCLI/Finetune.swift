// `ropim finetune`: resolve defaults → checkpoint's model and data → YAML → --set → flags, then fine-tune.

import ArgumentParser
import Foundation
import ROPIMDownstream
import ROPIMKernels
import ROPIMNN
import ROPIMTraining
import ROPIMOptim
import ROPIMFiles
import ROPIMData
import ROPIMConfig
import ROPIMDistributed

/// Options shared by finetune, linprobe and knn.
struct DownstreamOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Pre-training checkpoint. " + CheckpointArgument.accepted)) var pretrained: CheckpointArgument?
    @OptionGroup(title: "Config") var files: ConfigFileOptions
    @OptionGroup(title: "Data") var data: DataOptions
    @Option(help: "Use the first N training images of a seeded shuffle (data.subset).") var subset: Int?
    @Option(help: "Use the first N test images of a seeded shuffle (data.test_subset).") var testSubset: Int?
    @Option(help: """
        Evaluate on N training images held out instead of the test split (data.holdout; 0 = test split): the N \
        images after the --subset ones in the same seeded shuffle, disjoint from them and from a pre-training \
        with the same --seed and --subset. For choosing settings without the test set.
        """)
    var holdout: Int?
    @OptionGroup(title: "Run") var run: RunOptions
    @Flag(help: "Print the resolved config as YAML and exit.") var printConfig = false

    func checkpoint() throws -> PretrainCheckpoint? {
        try pretrained.map { try PretrainCheckpoint(path: $0.path) }
    }

    /// The flags, after the checkpoint's settings and the config files.
    func apply(to d: inout DownstreamDataConfig, run r: inout RunConfig) {
        data.apply(path: &d.path, kind: &d.dataset)
        override(&d.subset, with: subset)
        override(&d.testSubset, with: testSubset)
        override(&d.holdout, with: holdout)
        run.apply(to: &r)
    }
}

/// Data settings carried over from pre-training: where the data is and how it was normalized.
func inheritData(_ ckpt: PretrainCheckpoint, into d: inout DownstreamDataConfig) {
    d.dataset = ckpt.config.data.dataset
    d.path = ckpt.config.data.path
    d.normalization = ckpt.config.data.normalization
}

/// `runs/<name>-<time>`: where a run goes without --output.
func defaultRunDirectory(_ name: String) -> String {
    let f = DateFormatter(); f.dateFormat = "yyyyMMdd-HHmmss"
    return "runs/\(name)-\(f.string(from: Date()))"
}

/// Names the run directory when --output did not (rank 0's clock names it for every rank); returns the run's
/// compute context (run.threads).
func prepareRun(_ run: inout RunConfig, command: String, source: String, world: any Communicator) -> ComputeContext {
    if run.output.isEmpty { run.output = world.broadcast(defaultRunDirectory("\(command)-\(source)")) }
    return ThreadOptions.context(run.threads)
}

/// Stops every rank of a data-parallel downstream run that would not run the same thing: another ropim
/// version, resolved config, or checkpoint (its path, step and weights' sums, so that copies of it on several
/// machines must hold the same weights). The dataset is compared once it is loaded.
func checkRanksAgree(config: String, checkpoint: PretrainCheckpoint?, world: any Communicator) throws {
    guard world.worldSize > 1 else { return }
    let weights = checkpoint.map { ckpt in
        let w = RankAgreement.weightSums(ckpt.model.params)
        return "\(ckpt.path), step \(ckpt.step), weights Σ \(w.sum), Σ² \(w.squares)"
    }
    try RankAgreement.check([("ropim version", ropimVersion), ("resolved config", config), ("pretrained checkpoint", weights ?? "none")],
                            communicator: world)
}

/// The start line of a data-parallel run (nil for a single process): ranks, per-rank and global batch, threads.
func dataParallelLine(_ o: OptimConfig, world: any Communicator, threads: Int) -> String? {
    guard world.worldSize > 1 else { return nil }
    return "data-parallel: \(world.worldSize) ranks × batch \(o.batchSize)\(o.accumSteps > 1 ? " × \(o.accumSteps) accumulated" : "") = global batch \(o.globalBatch(worldSize: world.worldSize)); \(threads) threads per rank; rank 0 writes the run directory"
}

/// Creates a run directory for a downstream command (refuses one holding a summary.json or checkpoint).
func createRunDirectory(_ dir: String) throws {
    if FileManager.default.fileExists(atPath: dir + "/summary.json") {
        throw ValidationError("run directory '\(dir)' already holds a finished run (summary.json); choose another --output")
    }
    try RunDirectory.create(dir)
}

struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a pre-trained ViT (or train it from scratch) as a classifier.",
        discussion: """
        The reference recipe (docs/METHOD.md §4–5): the encoder without corruption, mean pooling of patch \
        tokens, fc_norm and a linear head (weights × 0.001); per-block relative position bias initialized from \
        the pre-trained shared table; AdamW (0.9, 0.999) with layer-wise LR decay, warm-up + cosine, label \
        smoothing 0.1, Mixup 0.8 / CutMix 1.0 (switch 0.5), drop path 0.1. Evaluates on the test split after \
        every epoch; keeps best.safetensors (best top-1) and checkpoint.safetensors (last).

        Without --pretrained the same classifier trains from a random initialization (the baseline).

        The run directory gets config.yaml, metrics.jsonl (per step; per epoch with test_top1), summary.json.

        Examples:
          ropim finetune --pretrained runs/x/checkpoint.safetensors --epochs 3 --subset 10000
          ropim finetune --epochs 3 --subset 10000 --set model.embed_dim=96 --set model.depth=4   # from scratch
        """)

    @OptionGroup var common: DownstreamOptions
    @OptionGroup(title: "Optimization") var optim: OptimOptions
    @Option(help: "Layer-wise LR decay (optim.layer_decay; 1 = off).") var layerDecay: Double?
    @Option(help: "Number of classes (method.classes; default: from the data). Labels must lie in 0..<N.") var classes: Int?

    /// Defaults → the checkpoint's model and data → --config → --set → flags, validated.
    func resolve(_ ckpt: PretrainCheckpoint?) throws -> FinetuneConfig {
        var c = FinetuneConfig()
        if let ckpt {
            c.pretrained = ckpt.path
            var m = ckpt.config.model
            if m.relPosBias == .shared { m.relPosBias = .perBlock }
            m.dropPathRate = ViTConfig().dropPathRate
            c.model = m
            inheritData(ckpt, into: &c.data)
        }
        c = try common.files.apply(to: c)
        common.apply(to: &c.data, run: &c.run)
        optim.apply(to: &c.optim)
        override(&c.optim.layerDecay, with: layerDecay)
        override(&c.method.classes, with: classes)
        if let ckpt { try ViTClassifier.checkCompatible(pretrained: ckpt.config.model, finetune: c.model, source: c.pretrained) }
        try c.validate()
        return c
    }

    /// Under mpirun every rank fine-tunes on its share of each global batch and evaluates its share of the test
    /// split; rank 0 writes (docs/DISTRIBUTED.md).
    func run() throws {
        let world = try Distributed.world(), writes = world.isMain
        let ckpt = try common.checkpoint()
        var c = try resolve(ckpt)
        if let note = ckpt?.note { print("checkpoint: \(note)") }
        if common.printConfig { print(try ConfigLoader.yaml(c), terminator: ""); return }
        let compute = prepareRun(&c.run, command: "finetune", source: ckpt == nil ? "scratch" : "pretrained", world: world)
        let yaml = try ConfigLoader.yaml(c)
        try checkRanksAgree(config: yaml, checkpoint: ckpt, world: world)
        let (train, test) = try DownstreamData.load(c.data, channels: c.model.inChans, imgSize: c.model.imgSize, seed: c.run.seed, compute: compute)
        try DownstreamData.checkRanksAgree(train: train, test: test, split: c.data.evaluationSplit, communicator: world)
        let trainer = try FinetuneTrainer(config: c, train: train, test: test, pretrained: ckpt, compute: compute, communicator: world)
        let dir = c.run.output
        if writes {
            try createRunDirectory(dir)
            try AtomicFile.write(yaml, to: dir + "/config.yaml")
        }
        print("ropim \(ropimVersion): fine-tuning \(c.model.embedDim)×\(c.model.depth) ViT (\(trainer.classifier.params.count) parameters), \(trainer.classes) classes, \(ckpt == nil ? "from scratch" : "from \(c.pretrained) (pre-training step \(ckpt!.step))")")
        if let r = trainer.loadReport {
            print("checkpoint: \(r)")
            if let m = ckpt?.config.model, !r.resized.isEmpty {
                print("checkpoint: pre-trained at \(m.imgSize) px (grid \(m.gridSize)×\(m.gridSize)), fine-tuning at \(c.model.imgSize) px (grid \(c.model.gridSize)×\(c.model.gridSize)): position tables resized bicubically")
            }
        }
        print("data: \(train.count) train / \(test.count) \(c.data.evaluationSplit) images from \(train.source)")
        if let line = dataParallelLine(c.optim, world: world, threads: compute.threads) { print(line) }
        let lr = c.scaledLR(worldSize: world.worldSize)
        print("lr = base \(c.optim.baseLR) × global batch \(c.optim.globalBatch(worldSize: world.worldSize)) / 512 = \(String(format: "%.3e", lr.peak)), layer decay \(c.optim.layerDecay) (stem ×\(String(format: "%.4f", LayerDecay.scale(layer: 0, depth: c.model.depth, decay: c.optim.layerDecay)))), warm-up \(trainer.schedule.warmupSteps) steps, cosine to \(String(format: "%.2e", lr.min))")
        if let w = trainer.schedule.warning { print(w) }
        print("\(c.optim.epochs) epochs × \(trainer.stepsPerEpoch) steps, \(compute.threads) threads, seed \(c.run.seed); run directory \(dir)")
        let s = try trainer.run(runDirectory: dir)
        guard writes else { return }
        let line = try writeSummary([
            "pretrained": c.pretrained, "epochs": s.epochs, "steps": s.steps, "classes": trainer.classes,
            "train_images": train.count, "test_images": test.count,
            "top1": s.final.top1, "top5": s.final.top5, "test_loss": s.final.loss,
            "best_top1": s.bestTop1, "best_epoch": s.bestEpoch, "seconds": s.seconds,
            "best_checkpoint": s.bestCheckpoint, "evaluation": c.data.evaluationSplit, "holdout": c.data.holdout],
            command: "finetune", runDirectory: dir)
        print(line)
    }
}
