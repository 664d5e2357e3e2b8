// Labelled train/test splits for the downstream commands, run summaries and the k-NN monitor that
// pre-training calls after an epoch.

import Foundation
import ROPIMData
import ROPIMDistributed
import ROPIMKernels
import ROPIMNN
import ROPIMTraining
import ROPIMFiles

public enum DownstreamData {
    /// The train and test splits the config names, each cut to its seeded subset; both must be labelled.
    /// With `data.holdout` N the second split is not the test split (it is not read) but N training images
    /// held out (`heldOut`).
    public static func load(_ c: DownstreamDataConfig, channels: Int, imgSize: Int, seed: Int,
                            compute: ComputeContext) throws -> (train: ImageDataset, test: ImageDataset) {
        var train: ImageDataset, test: ImageDataset
        let s = UInt64(truncatingIfNeeded: seed)
        var d = DataConfig()
        if c.dataset == .synthetic {
            train = SyntheticImages.make(count: c.syntheticCount, channels: channels, size: imgSize, classes: 10, seed: s,
                                         compute: compute)
        } else {
            d.dataset = c.dataset; d.path = c.path; d.normalization = c.normalization
            d.split = "train"
            train = try loadDataset(d, imgSize: imgSize, channels: channels, seed: seed, compute: compute)
        }
        if c.holdout > 0 { return try heldOut(train, subset: c.subset, holdout: c.holdout, seed: s) }
        if c.dataset == .synthetic {
            test = SyntheticImages.make(count: Swift.max(c.syntheticCount / 4, 1), channels: channels, size: imgSize,
                                        classes: 10, seed: s &+ 0x7E57, compute: compute)
        } else {
            d.split = try resolveDatasetKind(c.dataset, path: c.path) == .imagefolder ? "val" : "test"
            test = try loadDataset(d, imgSize: imgSize, channels: channels, seed: seed, compute: compute)
        }
        if c.subset > 0 && c.subset < train.count { train = train.seededSubset(c.subset, seed: s) }
        if c.testSubset > 0 && c.testSubset < test.count { test = test.seededSubset(c.testSubset, seed: s &+ 1) }
        return (train, test)
    }

    /// `holdout` images of `train` held out for evaluation: the training part is `seededSubset(subset)` (or
    /// all but `holdout` images when subset is 0), the held-out part the `holdout` images after it in the
    /// same seeded shuffle, so the two are disjoint. Errors when they do not both fit.
    public static func heldOut(_ train: ImageDataset, subset: Int, holdout: Int, seed: UInt64) throws -> (train: ImageDataset, test: ImageDataset) {
        let n = train.count
        let first = subset > 0 ? subset : n - holdout
        guard holdout < n, first >= 1, first + holdout <= n else {
            throw DownstreamError("data.holdout \(holdout)\(subset > 0 ? " with data.subset \(subset)" : ""): \(train.source) has \(n) training images, too few to hold out \(holdout) and keep \(subset > 0 ? "\(subset)" : "at least one") for training; lower data.holdout\(subset > 0 ? " or data.subset (their sum must be at most \(n))" : " below \(n)")")
        }
        let split = train.seededSplit(first: first, next: holdout, seed: seed)
        return (split.first, split.next)
    }

    /// Stops every rank of a data-parallel run when the ranks' splits differ in size, classes or channels
    /// (e.g. another copy of the data on one machine), naming what each rank holds.
    public static func checkRanksAgree(train: ImageDataset, test: ImageDataset, split: String, communicator: any Communicator) throws {
        try RankAgreement.check([("dataset", "\(train.count) train and \(test.count) \(split) images, \(train.classes.map(String.init) ?? "no") classes, \(train.channels) channels")],
                                communicator: communicator)
    }

    /// The class count to use: `requested` (0 = the data's), checked against every label of both splits.
    public static func classes(requested: Int, train: ImageDataset, test: ImageDataset) throws -> Int {
        let maxLabel = Int(([train.labels?.max(), test.labels?.max()].compactMap { $0 }).max() ?? -1)
        guard train.labels != nil, test.labels != nil else {
            throw DownstreamError("\(train.labels == nil ? train.source : test.source): no labels; downstream evaluation needs labelled train and test splits")
        }
        let n = requested > 0 ? requested : Swift.max(train.classes ?? 0, test.classes ?? 0, maxLabel + 1)
        if maxLabel >= n {
            let which = (train.labels!.max() ?? 0) >= Int32(n) ? train.source : test.source
            throw DownstreamError("\(which): holds label \(maxLabel), but --classes is \(n) (labels must lie in 0..<\(n)); the data has \(maxLabel + 1) classes: pass --classes \(maxLabel + 1) (or 0 to take it from the data)")
        }
        return n
    }
}

/// Writes `summary.json` (sorted keys) atomically and returns the one-line summary for stdout.
@discardableResult
public func writeSummary(_ record: [String: Any], command: String, runDirectory: String) throws -> String {
    var r = record
    r["command"] = command
    let data = try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys, .prettyPrinted])
    try AtomicFile.write(data, to: runDirectory + "/summary.json")
    let line = try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys])
    return "summary: " + String(decoding: line, as: UTF8.self)
}

/// Builds an encoder for linear probing or k-NN: the checkpoint's, or a freshly initialized one of an
/// architecture (the random-encoder baseline). The returned object keeps the parameters alive.
public func probeEncoder(checkpoint: PretrainCheckpoint?, model: ViTConfig, random: Bool, seed: Int) throws -> VisionTransformer {
    if let checkpoint, !random { return checkpoint.model.encoder }
    let vit = checkpoint?.config.model ?? model
    try vit.validate()
    let store = ParameterStore()
    let enc = VisionTransformer(config: vit, params: store, prefix: "encoder.")
    store.allocate()
    var rng = RunStreams(seed: UInt64(truncatingIfNeeded: seed)).initialization
    enc.initialize(rng: &rng)
    return enc
}

/// k-NN accuracy of a pre-training model's encoder on small labelled subsets, for `pretrain --knn-every`.
/// The subsets are loaded once; each call costs one forward pass over them. In a data-parallel run every rank
/// takes part (`Features.extract` and `KNN.classify` deal the work) and gets the same result.
public final class KNNMonitor {
    public let train: ImageDataset, test: ImageDataset
    public let classes: Int
    public let config: PretrainConfig
    /// Images per feature batch: the global batch of one micro-step (optim.batch_size × ranks), so N ranks
    /// × B encode the same batches as one process with N·B.
    public let featureBatch: Int

    public init(config: PretrainConfig, worldSize: Int = 1, compute: ComputeContext) throws {
        self.config = config
        featureBatch = config.optim.batchSize * worldSize
        var d = DownstreamDataConfig()
        d.dataset = config.data.dataset; d.path = config.data.path
        d.subset = config.run.knnTrainSubset; d.testSubset = config.run.knnTestSubset
        d.syntheticCount = Swift.max(config.run.knnTrainSubset, 64)
        (train, test) = try DownstreamData.load(d, channels: config.model.inChans, imgSize: config.model.imgSize, seed: config.run.seed,
                                                compute: compute)
        classes = try DownstreamData.classes(requested: 0, train: train, test: test)
    }

    /// Evaluates and returns the metrics to log (`knn_top1`, `knn_top5`, `knn_seconds`). Every rank of
    /// `communicator` must call it together.
    public func evaluate(encoder: VisionTransformer, compute: ComputeContext,
                         communicator: any Communicator = SingleProcess()) throws -> [String: Any] {
        let start = Date()
        let c = config
        let a = try Features.extract(encoder: encoder, data: train, normalization: c.data.normalization, batchSize: featureBatch,
                                     compute: compute, communicator: communicator)
        let b = try Features.extract(encoder: encoder, data: test, normalization: c.data.normalization, batchSize: featureBatch,
                                     compute: compute, communicator: communicator)
        let r = try KNN.classify(train: a, test: b, classes: classes, k: c.run.knnK, temperature: c.run.knnTemperature, compute: compute,
                                 communicator: communicator)
        return ["knn_top1": r.top1, "knn_top5": r.top5, "knn_seconds": Date().timeIntervalSince(start),
                "knn_train": r.trainCount, "knn_test": r.testCount]
    }
}
