// The data section of a config: which dataset, where, which split and subset, how images are stored,
// augmented and normalized. Shared by every command that reads images (pre-training, pictures,
// downstream evaluation). YAML keys are the snake_case forms (`data.val_fraction`).

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

import ROPIMKernels

extension Normalization {
    /// Why `data.normalization` does not fit a model with `channels` input channels (nil when it does):
    /// `channels` (or 1, shared) finite means and positive finite stds.
    public func problem(channels c: Int) -> String? { Self.problem(mean: mean, std: std, channels: c) }

    /// The same check for values not yet made into a `Normalization` (whose initializer requires them valid),
    /// e.g. a timm config.json's; `key` and `channelsKey` name where the values and the channel count come from.
    public static func problem(mean: [Float], std: [Float], channels c: Int, key: String = "data.normalization",
                               channelsKey: String = "model.in_chans") -> String? {
        let counts = [mean.count, std.count]
        if !counts.allSatisfy({ $0 == c || $0 == 1 }) || counts[0] != counts[1] {
            return "\(key) needs \(c) (or 1, shared) mean and std values for \(channelsKey) \(c), got \(counts[0]) and \(counts[1])"
        }
        if mean.contains(where: { !$0.isFinite }) || std.contains(where: { !($0.isFinite && $0 > 0) }) {
            return "\(key) needs finite means and positive finite stds, got mean \(mean) std \(std)"
        }
        return nil
    }
}

extension DataConfig {
    /// Why a loader's `data.workers` / `data.prefetch` are unusable (nil when they are fine): the one check of
    /// these keys, shared by pre-training's data section and fine-tuning's.
    public static func loaderProblem(workers: Int, prefetch: Int) -> String? {
        workers >= 0 && prefetch >= 1 ? nil
            : "data.workers must be ≥ 0 (0 = on the training thread) and data.prefetch ≥ 1, got \(workers) and \(prefetch)"
    }

    /// Checks every key of this section; `channels` is the model's input channel count.
    /// Errors name the key (`data.…`), the range and the value.
    public func validate(channels c: Int) throws {
        func fail(_ s: String) throws -> Never { throw DataError(s) }
        if let m = normalization.problem(channels: c) { try fail(m) }
        if augment.scale.count != 2 || augment.ratio.count != 2 { try fail("data.augment.scale and data.augment.ratio need two numbers each") }
        do { try augment.validate() } catch { try fail("data.\(error)") }
        if subset < 0 { try fail("data.subset must be ≥ 0 (0 = all), got \(subset)") }
        if let m = Check.int("data.synthetic_count", syntheticCount, 1...10_000_000) { try fail(m) }
        if !(0..<1).contains(valFraction) { try fail("data.val_fraction must be in [0, 1), got \(valFraction)") }
        if !["train", "val", "test"].contains(split) { try fail("data.split must be train, val or test, got '\(split)'") }
        if storeSize < 0 { try fail("data.store_size must be ≥ 0 (0 = model.img_size), got \(storeSize)") }
        if let m = DataConfig.loaderProblem(workers: workers, prefetch: prefetch) { try fail(m) }
    }
}
