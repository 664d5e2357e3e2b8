// Everything a pre-training run needs, as documented Codable structs. YAML keys are the snake_case
// forms of these names (`model.embed_dim`); a config file only lists what it changes from its preset.
// No Optionals: every key has a default, so the resolved config written to a run lists them all.

import ROPIMData
import ROPIMCore
import ROPIMNN
import ROPIMOptim
import ROPIMKernels

public struct RunConfig: Codable, Equatable, Sendable {
    /// Seeds every generator of the run (init, data order, augmentation, corruption, drop path).
    public var seed = 0
    /// Threads for our kernels and GEMM (0 = all cores, else 1–4096); resolved once per command into the
    /// run's `ComputeContext`.
    public var threads = 0
    /// Run directory; empty = runs/<preset>-<corruption>-<date-time>.
    public var output = ""
    /// Print a plain progress line every N steps when stdout is not a terminal.
    public var logEvery = 20
    /// Save a resumable checkpoint (weights, AdamW moments, RNG and loader state) every N optimizer steps
    /// (0 = only at the end of each epoch, on SIGINT/SIGTERM and at the end of the run).
    public var saveEvery = 0
    /// Resumable checkpoints to keep (the newest N, plus the one with the best epoch loss).
    public var keepLast = 2
    /// Pre-training monitor: k-NN top-1 on frozen features after every N epochs (0 = off), logged to
    /// metrics.jsonl as knn_top1; uses the labelled train/test splits of data.path, cut to these subsets.
    public var knnEvery = 0
    /// Training images used as the k-NN memory (0 = all).
    public var knnTrainSubset = 5000
    /// Test images used as k-NN queries (0 = all).
    public var knnTestSubset = 1000
    /// Neighbours and temperature of the weighted vote (DINO: 20, 0.07).
    public var knnK = 20
    public var knnTemperature = 0.07
    public init() {}
}

extension RunConfig {
    /// Checks every key of this section once (`run.threads` is resolved by the compute context).
    public func validate() throws {
        try Check.all([
            ComputeContext.problem(threads: threads, key: "run.threads"),
            Check.int("run.log_every", logEvery, 1...1_000_000_000),
            Check.int("run.save_every", saveEvery, 0...1_000_000_000, " (0 = at epoch ends only)"),
            Check.int("run.keep_last", keepLast, 1...1_000_000),
            Check.int("run.knn_every", knnEvery, 0...1_000_000, " (0 = off)"),
            Check.int("run.knn_train_subset", knnTrainSubset, 0...1_000_000_000, " (0 = all)"),
            Check.int("run.knn_test_subset", knnTestSubset, 0...1_000_000_000, " (0 = all)"),
            Check.int("run.knn_k", knnK, 1...100_000),
            Check.real("run.knn_temperature", knnTemperature, 0...1e6, lowerOpen: true),
        ], { PretrainConfig.Invalid(description: $0) })
    }
}

public struct PretrainConfig: Codable, Equatable, Sendable {
    public var model = ViTConfig()
    public var method = MethodConfig()
    public var data = DataConfig()
    public var optim = OptimConfig()
    public var run = RunConfig()
    public init() {}

    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    /// Checks what the model and method do not: batch, epochs, optimizer numbers, channel counts.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw Invalid(description: s) }
        try model.validate()
        try method.validate(for: model)
        do { try optim.validate() } catch { try fail("\(error)") }
        do { try run.validate() } catch { try fail("\(error)") }
        do { try data.validate(channels: model.inChans) } catch { try fail("\(error)") }
    }

    /// Images per optimizer step.
    public var totalBatch: Int { optim.totalBatch }
    /// The learning rates after the scaling rule (base · global batch / 512).
    public func scaledLR(worldSize: Int = 1) -> (peak: Double, warmup: Double, min: Double) { optim.scaledLR(worldSize: worldSize) }
}

extension PretrainConfig {
    /// The training images this config names (`loadData` with the model's size and channels and the run's seed).
    public func loadData(compute: ComputeContext) throws -> LoadedData {
        try ROPIMData.loadData(data, imgSize: model.imgSize, channels: model.inChans, seed: run.seed, compute: compute)
    }

    /// The same images in memory (every kind but a packed cache), for tests and tools.
    public func loadDataset(compute: ComputeContext) throws -> ImageDataset {
        try ROPIMData.loadDataset(data, imgSize: model.imgSize, channels: model.inChans, seed: run.seed, compute: compute)
    }
}
