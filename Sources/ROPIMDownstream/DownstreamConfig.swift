// Settings of the downstream commands (finetune, linprobe, knn) as documented Codable structs, loaded
// from YAML by ConfigLoader exactly like PretrainConfig (snake_case keys, every key has a default).

import ROPIMData
import ROPIMNN
import ROPIMKernels
import ROPIMTraining
import ROPIMOptim

/// Labelled data for downstream evaluation: a train split (fine-tuning data, probe training data,
/// k-NN memory) and a test split (evaluation, k-NN queries).
public struct DownstreamDataConfig: Codable, Equatable, Sendable {
    /// auto | idx | cifar10 | cifar100 | imagefolder | synthetic (train and test splits of `path`)
    public var dataset = DatasetKind.idx
    /// Folder holding the dataset (IDX train-*/t10k-*, CIFAR batches, or an image folder with train/ and val/).
    public var path = "/usr/share/datasets/fashion-mnist"
    /// Use the first N training images of a seeded shuffle (0 = all).
    public var subset = 0
    /// Use the first N test images of a seeded shuffle (0 = all).
    public var testSubset = 0
    /// Evaluate on N training images held out instead of the test split (0 = evaluate on the test split):
    /// the N images that follow the training images in the same seeded shuffle as `subset` (all but the
    /// last N when subset is 0). They share no image with the training part, nor with a pre-training run
    /// of the same seed and `data.subset` (it took the same prefix). For choosing settings without
    /// looking at the test set.
    public var holdout = 0
    /// Synthetic training images (test split: a quarter as many, drawn from another seed).
    public var syntheticCount = 4096
    /// Fine-tuning augmentation (timm/BEiT reference: RandomResizedCrop scale 0.08–1, flip, bicubic,
    /// RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25). Linear probing and k-NN use the plain images.
    public var augment = AugmentConfig(randomResizedCrop: true, scale: [0.08, 1.0], interpolation: .bicubic,
                                       randAugment: "rand-m9-mstd0.5-inc1", reprob: 0.25)
    /// Per-channel mean/std; use the pre-training's (the CLI copies it from the checkpoint).
    public var normalization = Normalization.fashionMNIST
    /// Fine-tuning: background threads building augmented batches (0 = on the training thread, in
    /// parallel over the batch). Linear probing and k-NN do not use a loader.
    public var workers = 2
    /// Fine-tuning: batches prepared ahead of the training step.
    public var prefetch = 2
    public init() {}
}

extension DownstreamDataConfig {
    /// What the second split is, for logs and summaries: "test", or "held-out" (`holdout` > 0).
    public var evaluationSplit: String { holdout > 0 ? "held-out" : "test" }
}

/// Classification-specific settings.
public struct FinetuneMethodConfig: Codable, Equatable, Sendable {
    /// Number of classes (0 = the training data's class count). Labels must lie in 0..<classes.
    public var classes = 0
    /// Label smoothing of the (mixed) one-hot targets.
    public var labelSmoothing = 0.1
    /// Mixup Beta(α, α) parameter (0 disables mixup).
    public var mixup = 0.8
    /// CutMix Beta(α, α) parameter (0 disables CutMix).
    public var cutmix = 1.0
    /// Probability of mixing a batch at all.
    public var mixupProb = 1.0
    /// Probability of CutMix instead of mixup when both are enabled (timm).
    public var switchProb = 0.5
    /// The head's trunc-normal(0.02) weights are multiplied by this (BEiT init_scale); bias is 0.
    public var headInitScale = 0.001
    public init() {}
}

public struct FinetuneConfig: Codable, Equatable, Sendable {
    /// Pre-training checkpoint to start from ("" = train from scratch, the baseline).
    public var pretrained = ""
    /// The classifier's encoder. With a checkpoint, the CLI starts this section from the checkpoint's
    /// model (shared relative position bias becomes per-block, initialized from the shared table);
    /// model.drop_path_rate (reference 0.1) is the fine-tuning's. The default is per-block too, as BEiT
    /// fine-tunes, so a run from scratch trains the same architecture.
    public var model: ViTConfig = { var v = ViTConfig(); v.relPosBias = .perBlock; return v }()
    public var data = DownstreamDataConfig()
    public var optim = OptimConfig.fineTuning
    public var method = FinetuneMethodConfig()
    public var run = RunConfig()
    public init() {}

    /// Checks the numbers that the model does not.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw DownstreamError(s) }
        try model.validate()
        do { try optim.validate() } catch { try fail("\(error)") }
        if optim.batchSize % 2 != 0 {
            try fail("optim.batch_size must be even (mixup pairs each image with the batch reversed), got \(optim.batchSize)")
        }
        try Check.all([
            Check.int("method.classes", method.classes, 0...1_000_000, " (0 = from the data)"),
            Check.real("method.label_smoothing", method.labelSmoothing, 0...1, upperOpen: true),
            Check.real("method.mixup", method.mixup, 0...1e3, " (0 disables)"),
            Check.real("method.cutmix", method.cutmix, 0...1e3, " (0 disables)"),
            Check.real("method.mixup_prob", method.mixupProb, 0...1),
            Check.real("method.switch_prob", method.switchProb, 0...1),
            Check.real("method.head_init_scale", method.headInitScale, 0...1e3),
        ], DownstreamError.init)
        try data.validate(channels: model.inChans)
        do { try run.validate() } catch { try fail("\(error)") }
    }

    /// Peak, warm-up and final learning rates after the scaling rule (base · global batch / 512).
    public func scaledLR(worldSize: Int = 1) -> (peak: Double, warmup: Double, min: Double) { optim.scaledLR(worldSize: worldSize) }
}

/// Where features come from in linear probing and k-NN.
public enum FeaturePooling: String, Codable, CaseIterable, Sendable {
    /// The cls token.
    case cls
    /// The mean of the patch tokens (cls excluded).
    case avg
}

public enum FeatureSource: String, Codable, CaseIterable, Sendable {
    /// The encoder of the checkpoint.
    case pretrained
    /// The same architecture, freshly initialized (seeded): the "random encoder" baseline.
    case random
    /// The normalized pixels themselves (a linear model on raw pixels).
    case pixels
}

extension DownstreamDataConfig {
    /// Checks every key of this section once; `channels` is the model's input channel count.
    public func validate(channels: Int) throws {
        try Check.all([
            Check.int("data.subset", subset, 0...1_000_000_000, " (0 = all)"),
            Check.int("data.test_subset", testSubset, 0...1_000_000_000, " (0 = all)"),
            Check.int("data.holdout", holdout, 0...1_000_000_000, " (0 = evaluate on the test split)"),
            Check.int("data.synthetic_count", syntheticCount, 1...10_000_000),
            DataConfig.loaderProblem(workers: workers, prefetch: prefetch),
        ], DownstreamError.init)
        if holdout > 0 && testSubset > 0 {
            throw DownstreamError("data.holdout \(holdout) and data.test_subset \(testSubset) are both set: the held-out training images replace the test split, so a test subset means nothing; set one of them to 0")
        }
        if let m = normalization.problem(channels: channels) { throw DownstreamError(m) }
        try augment.validate()
    }
}

/// Linear probing (MAE protocol: frozen encoder, BatchNorm without affine, linear head) and k-NN settings.
public struct ProbeConfig: Codable, Equatable, Sendable {
    /// pretrained | random | pixels
    public var features = FeatureSource.pretrained
    /// Block whose output is the feature: −1 = the encoder's final output (after its final norm),
    /// 0..<depth = that block's output (before any norm).
    public var block = -1
    /// Concatenate the pooled outputs of the last N blocks, each through the final norm (DINO's
    /// n_last_blocks): N·D features. 1 = only `block`; above 1 needs block −1.
    public var lastBlocks = 1
    /// cls | avg (average of patch tokens)
    public var pooling = FeaturePooling.avg
    /// Images per forward pass when computing features.
    public var featureBatch = 256
    /// Also store the features as safetensors in the run directory (features.safetensors).
    public var saveFeatures = false
    /// Head training epochs over the cached features.
    public var epochs = 100
    public var batchSize = 256
    /// SGD with momentum (MAE uses LARS; plain SGD + momentum here), lr = base · batch / 256, cosine.
    public var baseLR = 0.1
    public var momentum = 0.9
    public var weightDecay = 0.0
    public var warmupEpochs = 10.0
    /// k-NN: neighbours and temperature (DINO's weighted vote, weights exp(cos/T)).
    public var k = 20
    public var temperature = 0.07
    public init() {}

    /// "block −1" or "last 4 blocks": where the features come from, for progress lines.
    public var blocksDescription: String { lastBlocks > 1 ? "last \(lastBlocks) blocks" : "block \(block)" }

    public func validate(depth: Int?) throws {
        func fail(_ s: String) throws -> Never { throw DownstreamError(s) }
        if let depth, block < -1 || block >= depth { try fail("probe.block \(block) is outside −1 (final output) … \(depth - 1) (last block)") }
        if lastBlocks < 1 || (lastBlocks > 1 && block != -1) { try fail("probe.last_blocks must be ≥ 1, and above 1 only with probe.block −1 (it counts back from the last block)") }
        if let depth, lastBlocks > depth { try fail("probe.last_blocks \(lastBlocks) is more than the encoder's \(depth) blocks") }
        try Check.all([
            Check.int("probe.feature_batch", featureBatch, 1...65_536),
            Check.int("probe.batch_size", batchSize, 2...1_000_000),
            Check.int("probe.epochs", epochs, 1...1_000_000),
            Check.real("probe.base_lr", baseLR, 0...1e6, lowerOpen: true),
            Check.real("probe.momentum", momentum, 0...1, upperOpen: true),
            Check.real("probe.weight_decay", weightDecay, 0...1e6),
            Check.real("probe.warmup_epochs", warmupEpochs, 0...1e6),
            Check.int("probe.k", k, 1...100_000),
            Check.real("probe.temperature", temperature, 0...1e6, lowerOpen: true),
        ], DownstreamError.init)
    }
}

/// The config of `ropim linprobe` and `ropim knn` (both evaluate frozen features).
public struct FrozenFeaturesConfig: Codable, Equatable, Sendable {
    /// Pre-training checkpoint ("" only with probe.features: pixels, or random with the model section).
    public var pretrained = ""
    /// Used when there is no checkpoint (features random); otherwise the checkpoint's.
    public var model = ViTConfig()
    public var data = DownstreamDataConfig()
    public var probe = ProbeConfig()
    public var run = RunConfig()
    public init() {}

    /// Checks every section; `checkpointModel` is the checkpoint's architecture when there is one (it
    /// replaces `model`).
    public func validate(checkpointModel: ViTConfig?) throws {
        let vit = checkpointModel ?? model
        if probe.features != .pixels { try vit.validate() }
        try probe.validate(depth: probe.features == .pixels ? nil : vit.depth)
        try data.validate(channels: vit.inChans)
        do { try run.validate() } catch { throw DownstreamError("\(error)") }
    }
}

/// A downstream problem the user can fix: says what, where and how.
public struct DownstreamError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
