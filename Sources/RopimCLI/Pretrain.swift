// `ropim pretrain`: resolve preset → YAML file → --set overrides → flags, then train.

import ROPIMData
import ROPIMDownstream
import ArgumentParser
import Foundation
import ROPIMCore
import ROPIMKernels
import ROPIMTraining

extension CorruptionKind: ExpressibleByArgument {}
extension LossKind: ExpressibleByArgument {}
extension DatasetKind: ExpressibleByArgument {}
extension SketchSampler: ExpressibleByArgument {}

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-train a ViT with ROPIM (default) or SimMIM-style masking.",
        discussion: """
        Settings come from a preset (--preset, default fmnist), then a YAML file (--config) that lists only what it changes, then --set key=value, then the flags below. See every key with --print-config.

        The run directory gets config.yaml (resolved), metrics.jsonl (one JSON line per step) and checkpoint.safetensors (weights with timm/SimMIM names).

        Examples:
          ropim pretrain                                  # Fashion-MNIST, ROPIM, 20 epochs
          ropim pretrain --epochs 1 --subset 10000        # a quick look
          ropim pretrain --corruption mask                # the SimMIM baseline
          ropim pretrain --preset vit-tiny --dataset synthetic --max-steps 5
        """)

    @Option(help: "Preset to start from: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset = Preset.fmnist.rawValue
    @Option(help: "YAML config file overriding the preset.")
    var config: String?
    @Option(name: .customLong("set"), help: "Override one key, e.g. --set model.depth=4 (repeatable).")
    var overrides: [String] = []
    @Option(help: "Dataset folder (IDX files for the fmnist preset). Default: /usr/share/datasets/fashion-mnist.")
    var data: String?
    @Option(help: "Dataset kind.")
    var dataset: DatasetKind?
    @Option(help: "Run directory (default runs/<preset>-<corruption>-<time>).")
    var output: String?
    @Option(help: "Training epochs.") var epochs: Int?
    @Option(help: "Images per micro-batch.") var batchSize: Int?
    @Option(help: "Micro-batches per optimizer step (gradient accumulation).") var accumSteps: Int?
    @Option(help: "Base learning rate for a total batch of 512 (scaled by total_batch/512).") var lr: Double?
    @Option(help: "Threads for kernels and GEMM (0 = all cores).") var threads: Int?
    @Option(help: "Seed for every random stream of the run.") var seed: Int?
    @Option(help: "Use the first N images of a seeded shuffle.") var subset: Int?
    @Option(help: "Stop after N optimizer steps.") var maxSteps: Int?
    @Option(help: "Corruption of the patch tokens.") var corruption: CorruptionKind?
    @Option(help: "Reconstruction loss on normalized pixels.") var loss: LossKind?
    @Option(help: "Sketch size K' (ROPIM).") var sketchSize: Int?
    @Option(help: "Count-sketch sampler (balanced = reference).") var sampler: SketchSampler?
    @Option(help: "Every N epochs (and after the last), k-NN top-1 of the encoder's features on run.knn_train_subset/run.knn_test_subset labelled images, logged as knn_top1 in metrics.jsonl (0 = off).") var knnEvery: Int?
    @Flag(help: "Print the resolved config as YAML and exit.") var printConfig = false

    func resolve() throws -> (PretrainConfig, Preset) {
        guard let base = Preset(rawValue: preset) else {
            throw ValidationError("unknown preset '\(preset)'; choose one of: \(Preset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var c = base.config
        if let config { c = try ConfigLoader.load(PretrainConfig.self, path: config, defaults: c) }
        if !overrides.isEmpty { c = try ConfigLoader.apply(overrides, to: c, origin: "--set") }
        if let data { c.data.path = data; if dataset == nil { c.data.dataset = .idx } }
        if let dataset { c.data.dataset = dataset }
        if let output { c.run.output = output }
        if let epochs { c.optim.epochs = epochs }
        if let batchSize { c.optim.batchSize = batchSize }
        if let accumSteps { c.optim.accumSteps = accumSteps }
        if let lr { c.optim.baseLR = lr }
        if let threads { c.run.threads = threads }
        if let seed { c.run.seed = seed }
        if let subset { c.data.subset = subset }
        if let maxSteps { c.optim.maxSteps = maxSteps }
        if let corruption { c.method.corruption = corruption }
        if let loss { c.method.loss = loss }
        if let sketchSize { c.method.sketchSize = sketchSize }
        if let sampler { c.method.sampler = sampler }
        if let knnEvery { c.run.knnEvery = knnEvery }
        try c.validate()
        return (c, base)
    }

    func run() throws {
        var (c, base) = try resolve()
        if printConfig { print(try ConfigLoader.yaml(c), terminator: ""); return }
        let threads = c.run.threads > 0 ? c.run.threads : ProcessInfo.processInfo.activeProcessorCount
        Parallel.setThreads(threads)
        if c.run.output.isEmpty {
            let f = DateFormatter(); f.dateFormat = "yyyyMMdd-HHmmss"
            c.run.output = "runs/\(base.rawValue)-\(c.method.corruption.rawValue)-\(f.string(from: Date()))"
        }
        let dir = c.run.output
        // Everything that can fail on bad input happens before the run directory is created.
        let dataset = try loadDataset(c)
        let trainer = try PretrainTrainer(config: c, dataset: dataset)
        if c.run.knnEvery > 0 {
            let monitor = try KNNMonitor(config: c)
            trainer.epochHook = { _, model in try monitor.evaluate(encoder: model.encoder) }
        }
        try RunDirectory.create(dir)
        try AtomicFile.write(try ConfigLoader.yaml(c), to: dir + "/config.yaml")
        let lr = c.scaledLR
        print("ropim \(ropimVersion): pre-training \(c.model.embedDim)×\(c.model.depth) ViT (\(trainer.model.params.count) parameters), \(c.method.corruption.rawValue) \(c.method.corruption == .rop ? "K=\(c.model.numPatches) K'=\(c.method.sketchSize) " : "")\(c.method.loss.rawValue) loss")
        print("data: \(dataset.source), \(dataset.count) images \(dataset.channels)×\(dataset.height)×\(dataset.width) → \(c.model.inChans)×\(c.model.imgSize)×\(c.model.imgSize)")
        print("lr = base \(c.optim.baseLR) × total batch \(c.totalBatch) / 512 = \(String(format: "%.3e", lr.peak)) (warm-up from \(String(format: "%.2e", lr.warmup)) over \(trainer.schedule.warmupSteps) steps, cosine to \(String(format: "%.2e", lr.min)))")
        print("\(c.optim.epochs) epochs × \(trainer.stepsPerEpoch) steps, batch \(c.optim.batchSize)\(c.optim.accumSteps > 1 ? " × \(c.optim.accumSteps) accumulated" : ""), \(threads) threads, seed \(c.run.seed); run directory \(dir)")
        let summary = try trainer.train(runDirectory: dir)
        print("")
        print(String(format: "done: %d steps in %.1f s; mean loss %.4f (start) → %.4f (end); checkpoint %@",
                     summary.steps, summary.seconds, summary.meanLossStart, summary.meanLossEnd, summary.checkpoint))
    }
}
