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

/// Options shared by finetune, linprobe and knn.
struct DownstreamOptions: ParsableArguments {
    @Option(help: "Pre-training checkpoint: a run's checkpoint.safetensors, or an exported/imported encoder file with its sidecar.") var pretrained: String?
    @Option(help: "YAML config file (only the keys it changes); repeat to layer files (later ones win).") var config: [String] = []
    @Option(name: .customLong("set"), help: "Override one key, e.g. --set optim.epochs=3 (finetune) or --set probe.epochs=3 (linprobe, knn); repeatable.") var overrides: [String] = []
    @Option(help: "Dataset folder with train and test splits (IDX, CIFAR, or an image folder with train/ and val/). Default: the checkpoint's, else /usr/share/datasets/fashion-mnist.") var data: String?
    @Option(help: "Dataset kind (auto detects it from --data).") var dataset: DatasetKind?
    @Option(help: "Use the first N training images of a seeded shuffle.") var subset: Int?
    @Option(help: "Use the first N test images of a seeded shuffle.") var testSubset: Int?
    @Option(help: "Run directory (default runs/<command>-<source>-<time>).") var output: String?
    @Option(help: "Threads for kernels and GEMM (0 = all cores).") var threads: Int?
    @Option(help: "Seed for every random stream of the run.") var seed: Int?
    @Flag(help: "Print the resolved config as YAML and exit.") var printConfig = false

    func checkpoint() throws -> PretrainCheckpoint? {
        guard let pretrained else { return nil }
        return try PretrainCheckpoint(path: pretrained)
    }

    func apply(to data: inout DownstreamDataConfig, run: inout RunConfig) {
        if let d = self.data { data.path = d; if dataset == nil { data.dataset = .idx } }
        if let dataset { data.dataset = dataset }
        if let subset { data.subset = subset }
        if let testSubset { data.testSubset = testSubset }
        if let output { run.output = output }
        if let threads { run.threads = threads }
        if let seed { run.seed = seed }
    }
}

/// Data settings carried over from pre-training: where the data is and how it was normalized.
func inheritData(_ ckpt: PretrainCheckpoint, into d: inout DownstreamDataConfig) {
    d.dataset = ckpt.config.data.dataset
    d.path = ckpt.config.data.path
    d.normalization = ckpt.config.data.normalization
}

func prepareRun(_ run: inout RunConfig, command: String, source: String) throws -> ComputeContext {
    let compute = try resolveCompute(threads: run.threads)
    if run.output.isEmpty {
        let f = DateFormatter(); f.dateFormat = "yyyyMMdd-HHmmss"
        run.output = "runs/\(command)-\(source)-\(f.string(from: Date()))"
    }
    return compute
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
        The reference recipe (docs/METHOD.md §4–5): the encoder without corruption, mean pooling of patch tokens, fc_norm and a linear head (weights × 0.001); per-block relative position bias initialized from the pre-trained shared table; AdamW (0.9, 0.999) with layer-wise LR decay, warm-up + cosine, label smoothing 0.1, Mixup 0.8 / CutMix 1.0 (switch 0.5), drop path 0.1. Evaluates on the test split after every epoch; keeps best.safetensors (best top-1) and checkpoint.safetensors (last).

        Without --pretrained the same classifier trains from a random initialization (the baseline).

        The run directory gets config.yaml, metrics.jsonl (per step; per epoch with test_top1), summary.json.

        Examples:
          ropim finetune --pretrained runs/x/checkpoint.safetensors --epochs 3 --subset 10000
          ropim finetune --epochs 3 --subset 10000 --set model.embed_dim=96 --set model.depth=4   # from scratch
        """)

    @OptionGroup var common: DownstreamOptions
    @Option(help: "Number of classes (default: from the data). Labels must lie in 0..<N.") var classes: Int?
    @Option(help: "Training epochs.") var epochs: Int?
    @Option(help: "Images per step (even).") var batchSize: Int?
    @Option(help: "Base learning rate for a batch of 512 (scaled by batch/512).") var lr: Double?
    @Option(help: "Layer-wise LR decay (1 = off).") var layerDecay: Double?
    @Option(help: "Stop after N optimizer steps.") var maxSteps: Int?

    func resolve(_ ckpt: PretrainCheckpoint?) throws -> FinetuneConfig {
        var c = FinetuneConfig()
        if let ckpt {
            c.pretrained = common.pretrained!
            var m = ckpt.config.model
            if m.relPosBias == .shared { m.relPosBias = .perBlock }
            m.dropPathRate = ViTConfig().dropPathRate
            c.model = m
            inheritData(ckpt, into: &c.data)
        }
        for path in common.config { c = try ConfigLoader.load(FinetuneConfig.self, path: path, defaults: c) }
        if !common.overrides.isEmpty { c = try ConfigLoader.apply(common.overrides, to: c, origin: "--set") }
        common.apply(to: &c.data, run: &c.run)
        if let classes { c.method.classes = classes }
        if let epochs { c.optim.epochs = epochs }
        if let batchSize { c.optim.batchSize = batchSize }
        if let lr { c.optim.baseLR = lr }
        if let layerDecay { c.optim.layerDecay = layerDecay }
        if let maxSteps { c.optim.maxSteps = maxSteps }
        if let ckpt { try ViTClassifier.checkCompatible(pretrained: ckpt.config.model, finetune: c.model, source: c.pretrained) }
        try c.validate()
        return c
    }

    func run() throws {
        let ckpt = try common.checkpoint()
        var c = try resolve(ckpt)
        if common.printConfig { print(try ConfigLoader.yaml(c), terminator: ""); return }
        let compute = try prepareRun(&c.run, command: "finetune", source: ckpt == nil ? "scratch" : "pretrained")
        let (train, test) = try DownstreamData.load(c.data, channels: c.model.inChans, imgSize: c.model.imgSize, seed: c.run.seed, compute: compute)
        let trainer = try FinetuneTrainer(config: c, train: train, test: test, pretrained: ckpt, compute: compute)
        let dir = c.run.output
        try createRunDirectory(dir)
        try AtomicFile.write(try ConfigLoader.yaml(c), to: dir + "/config.yaml")
        print("ropim \(ropimVersion): fine-tuning \(c.model.embedDim)×\(c.model.depth) ViT (\(trainer.classifier.params.count) parameters), \(trainer.classes) classes, \(ckpt == nil ? "from scratch" : "from \(c.pretrained) (pre-training step \(ckpt!.step))")")
        if let r = trainer.loadReport {
            print("checkpoint: \(r)")
            if let m = ckpt?.config.model, !r.resized.isEmpty {
                print("checkpoint: pre-trained at \(m.imgSize) px (grid \(m.gridSize)×\(m.gridSize)), fine-tuning at \(c.model.imgSize) px (grid \(c.model.gridSize)×\(c.model.gridSize)): position tables resized bicubically")
            }
        }
        print("data: \(train.count) train / \(test.count) test images from \(train.source)")
        let lr = c.scaledLR
        print("lr = base \(c.optim.baseLR) × batch \(c.optim.batchSize) / 512 = \(String(format: "%.3e", lr.peak)), layer decay \(c.optim.layerDecay) (stem ×\(String(format: "%.4f", LayerDecay.scale(layer: 0, depth: c.model.depth, decay: c.optim.layerDecay)))), warm-up \(trainer.schedule.warmupSteps) steps, cosine to \(String(format: "%.2e", lr.min))")
        if let w = trainer.schedule.warning { print(w) }
        print("\(c.optim.epochs) epochs × \(trainer.stepsPerEpoch) steps, \(compute.threads) threads, seed \(c.run.seed); run directory \(dir)")
        let s = try trainer.run(runDirectory: dir)
        let line = try writeSummary([
            "pretrained": c.pretrained, "epochs": s.epochs, "steps": s.steps, "classes": trainer.classes,
            "train_images": train.count, "test_images": test.count,
            "top1": s.final.top1, "top5": s.final.top5, "test_loss": s.final.loss,
            "best_top1": s.bestTop1, "best_epoch": s.bestEpoch, "seconds": s.seconds,
            "best_checkpoint": s.bestCheckpoint], command: "finetune", runDirectory: dir)
        print(line)
    }
}
