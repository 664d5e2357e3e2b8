// Everything a pre-training run needs, as documented Codable structs. YAML keys are the snake_case
// forms of these names (`model.embed_dim`); a config file only lists what it changes from its preset.
// No Optionals: every key has a default, so the resolved config written to a run lists them all.

import ROPIMData
import ROPIMCore
import ROPIMNN

public enum DatasetKind: String, Codable, CaseIterable, Sendable {
    /// Detect from the files in `data.path`: IDX, CIFAR-10/100 binaries, else an image folder.
    case auto
    /// IDX files (Fashion-MNIST / MNIST layout) in `data.path`, gzip'd or not.
    case idx
    /// Seeded synthetic images (no files): for tests, benchmarks and smoke runs.
    case synthetic
    /// JPEG/PNG files: `path/<class>/<image>` (or `path/train/<class>/…`), or an unlabelled tree.
    case imagefolder
    /// CIFAR-10 binary version (data_batch_1..5.bin, test_batch.bin).
    case cifar10
    /// CIFAR-100 binary version (train.bin, test.bin).
    case cifar100
}

public struct DataConfig: Codable, Equatable, Sendable {
    /// auto | idx | synthetic | imagefolder | cifar10 | cifar100 (`--data DIR` alone sets auto)
    public var dataset = DatasetKind.idx
    /// Folder holding the dataset files.
    public var path = "/usr/share/datasets/fashion-mnist"
    /// train | val | test: which part to read (image folders: the train/ or val/ sub-folder when present).
    public var split = "train"
    /// Hold out this fraction of the images (seeded) and train on the rest; 0 = use all.
    public var valFraction = 0.0
    /// CIFAR-100 labels: fine (100 classes) or coarse (20).
    public var cifarLabels = CIFARLabels.fine
    /// Image folders: auto (class sub-folders if any, else unlabelled), classes, or flat (unlabelled, any depth).
    public var layout = FolderLayout.auto
    /// Image folders: decoded images are stored at this size (shorter side resized, centre crop); 0 = model.img_size.
    public var storeSize = 0
    /// Image folders: packed cache file (decoded once, memory-mapped, rebuilt when the folder changes); "" = in memory.
    public var cache = ""
    /// Skip unreadable image files (and empty class folders) and report them, instead of stopping.
    public var skipBad = false
    /// Background threads building batches (0 = on the training thread).
    public var workers = 2
    /// Batches prepared ahead of the training step.
    public var prefetch = 4
    /// Use the first N images of a seeded shuffle (0 = all).
    public var subset = 0
    /// Images generated when dataset is synthetic.
    public var syntheticCount = 4096
    /// Pre-training augmentation: RandomResizedCrop + horizontal flip (+ optional jitter, RandAugment, erasing).
    public var augment = AugmentConfig()
    /// Per-channel mean/std for the normalized pixels the model sees and reconstructs.
    public var normalization = Normalization.fashionMNIST
    public init() {}
}

public struct OptimConfig: Codable, Equatable, Sendable {
    public var epochs = 100
    /// Images per optimizer step = batch_size · accum_steps.
    public var batchSize = 128
    /// Gradient accumulation: micro-batches per optimizer step.
    public var accumSteps = 1
    /// Base learning rate for a total batch of 512; the run uses base · total_batch / 512 (as SimMIM, warmup_lr and min_lr scale too).
    public var baseLR = 1e-3
    public var warmupLR = 5e-7
    public var minLR = 5e-6
    public var warmupEpochs = 5.0
    public var weightDecay = 0.05
    public var betas = [0.9, 0.95]
    public var eps = 1e-8
    /// Max global gradient norm (0 disables clipping).
    public var clipGrad = 5.0
    /// Stop after this many optimizer steps (0 = run all epochs); the schedule still spans all epochs.
    public var maxSteps = 0
    public init() {}
}

public struct RunConfig: Codable, Equatable, Sendable {
    /// Seeds every generator of the run (init, data order, augmentation, corruption, drop path).
    public var seed = 0
    /// Threads for our kernels and GEMM (0 = all cores).
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
        if optim.epochs < 1 { try fail("optim.epochs must be at least 1, got \(optim.epochs)") }
        if optim.batchSize < 1 { try fail("optim.batch_size must be at least 1, got \(optim.batchSize)") }
        if optim.accumSteps < 1 { try fail("optim.accum_steps must be at least 1, got \(optim.accumSteps)") }
        if optim.betas.count != 2 || !optim.betas.allSatisfy({ (0..<1).contains($0) }) {
            try fail("optim.betas must be two numbers in [0, 1), got \(optim.betas)")
        }
        if optim.baseLR <= 0 { try fail("optim.base_lr must be positive, got \(optim.baseLR)") }
        if optim.maxSteps < 0 { try fail("optim.max_steps must be ≥ 0, got \(optim.maxSteps)") }
        if run.saveEvery < 0 || run.keepLast < 1 { try fail("run.save_every must be ≥ 0 and run.keep_last ≥ 1, got \(run.saveEvery) and \(run.keepLast)") }
        if data.subset < 0 { try fail("data.subset must be ≥ 0 (0 = all), got \(data.subset)") }
        if run.knnEvery < 0 || run.knnTrainSubset < 0 || run.knnTestSubset < 0 || run.knnK < 1 || run.knnTemperature <= 0 {
            try fail("run.knn_every, run.knn_train_subset and run.knn_test_subset must be ≥ 0, run.knn_k ≥ 1 and run.knn_temperature positive")
        }
        let c = model.inChans
        let counts = [data.normalization.mean.count, data.normalization.std.count]
        if !counts.allSatisfy({ $0 == c || $0 == 1 }) || counts[0] != counts[1] {
            try fail("data.normalization needs \(c) (or 1, shared) mean and std values for model.in_chans \(c), got \(counts[0]) and \(counts[1])")
        }
        if data.normalization.std.contains(where: { $0 <= 0 }) { try fail("data.normalization.std values must be positive") }
        if data.augment.scale.count != 2 || data.augment.ratio.count != 2 { try fail("data.augment.scale and data.augment.ratio need two numbers each") }
        do { try data.augment.validate() } catch { try fail("data.\(error)") }
        if !(0..<1).contains(data.valFraction) { try fail("data.val_fraction must be in [0, 1), got \(data.valFraction)") }
        if !["train", "val", "test"].contains(data.split) { try fail("data.split must be train, val or test, got '\(data.split)'") }
        if data.storeSize < 0 { try fail("data.store_size must be ≥ 0 (0 = model.img_size), got \(data.storeSize)") }
        if data.workers < 0 || data.prefetch < 1 { try fail("data.workers must be ≥ 0 and data.prefetch ≥ 1, got \(data.workers) and \(data.prefetch)") }
    }

    /// Images per optimizer step.
    public var totalBatch: Int { optim.batchSize * optim.accumSteps }
    /// The learning rates after the scaling rule (base · total_batch / 512).
    public var scaledLR: (peak: Double, warmup: Double, min: Double) {
        let s = Double(totalBatch) / 512
        return (optim.baseLR * s, optim.warmupLR * s, optim.minLR * s)
    }
}
