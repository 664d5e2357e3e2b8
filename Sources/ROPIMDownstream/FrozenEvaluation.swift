// `linprobe` and `knn` as library calls: features of the train and test splits computed once (from the
// checkpoint's encoder, a random encoder of the same shape, or the pixels), then a linear probe or k-NN.
// Data-parallel runs (docs/DISTRIBUTED.md): the ranks share the feature extraction and every rank gets all
// features; k-NN deals its queries over the ranks; the probe (cheap) trains identically on every rank;
// rank 0 alone writes.

import Foundation
import Logging
import ROPIMData
import ROPIMDistributed
import ROPIMKernels
import ROPIMNN
import ROPIMTraining
import ROPIMFiles

public enum FrozenEvaluation {
    /// Train and test features and the class count (every rank gets all of them). `logger` gets one line per stage.
    public static func features(_ c: FrozenFeaturesConfig, checkpoint: PretrainCheckpoint?, compute: ComputeContext,
                                communicator: any Communicator = SingleProcess(), logger: Logger = Logger.current) throws -> (train: FeatureSet, test: FeatureSet, classes: Int) {
        let vit = checkpoint?.config.model ?? c.model
        try c.validate(checkpointModel: checkpoint?.config.model)
        if c.probe.features == .pretrained && checkpoint == nil {
            throw DownstreamError("probe.features pretrained needs a checkpoint: pass --pretrained run/checkpoint.safetensors (or --features random / pixels for the baselines)")
        }
        let (train, test) = try DownstreamData.load(c.data, channels: vit.inChans, imgSize: vit.imgSize, seed: c.run.seed, compute: compute)
        try DownstreamData.checkRanksAgree(train: train, test: test, split: c.data.evaluationSplit, communicator: communicator)
        let classes = try DownstreamData.classes(requested: 0, train: train, test: test)
        let start = Date()
        var a: FeatureSet, b: FeatureSet
        switch c.probe.features {
        case .pixels:
            a = try Features.pixels(data: train, normalization: c.data.normalization, compute: compute)
            b = try Features.pixels(data: test, normalization: c.data.normalization, compute: compute)
        case .pretrained, .random:
            let enc = try probeEncoder(checkpoint: checkpoint, model: vit, random: c.probe.features == .random, seed: c.run.seed)
            a = try Features.extract(encoder: enc, data: train, normalization: c.data.normalization, block: c.probe.block, lastBlocks: c.probe.lastBlocks,
                                     pooling: c.probe.pooling, batchSize: c.probe.featureBatch, compute: compute, communicator: communicator)
            b = try Features.extract(encoder: enc, data: test, normalization: c.data.normalization, block: c.probe.block, lastBlocks: c.probe.lastBlocks,
                                     pooling: c.probe.pooling, batchSize: c.probe.featureBatch, compute: compute, communicator: communicator)
        }
        for (split, f) in [("train", a), ("test", b)] {
            if let bad = Check.finite(f.values) {
                throw DownstreamError("features of \(split) are not finite: \(bad) (probe.features \(c.probe.features.rawValue)\(checkpoint.map { " of \($0.path)" } ?? "")); the encoder or data.normalization produces NaN or infinity")
            }
        }
        logger.info(.init(stringLiteral: String(format: "features: %@ (%d train, %d %@, %d dims) in %.1f s", c.probe.features.rawValue,
                                                a.count, b.count, c.data.evaluationSplit, a.dim, Date().timeIntervalSince(start))))
        return (a, b, classes)
    }

    /// Saves features as safetensors (train_features, train_labels, test_features, test_labels).
    public static func saveFeatures(_ train: FeatureSet, _ test: FeatureSet, to path: String) throws {
        try SafeTensors.write([
            NamedTensor(name: "train_features", shape: [train.count, train.dim], values: train.values),
            NamedTensor(name: "train_labels", shape: [train.count], values: train.labels.map(Float.init)),
            NamedTensor(name: "test_features", shape: [test.count, test.dim], values: test.values),
            NamedTensor(name: "test_labels", shape: [test.count], values: test.labels.map(Float.init)),
        ], metadata: RopimFormat.features.metadata(), to: path)
    }

    /// Linear probe; metrics.jsonl gets one line per epoch. Returns the summary record.
    public static func linearProbe(_ c: FrozenFeaturesConfig, checkpoint: PretrainCheckpoint?, runDirectory: String,
                                   compute: ComputeContext, communicator: any Communicator = SingleProcess(),
                                   logger: Logger = Logger.current) throws -> [String: Any] {
        let start = Date()
        let (train, test, classes) = try features(c, checkpoint: checkpoint, compute: compute, communicator: communicator, logger: logger)
        let writes = communicator.isMain
        if c.probe.saveFeatures && writes { try saveFeatures(train, test, to: runDirectory + "/features.safetensors") }
        let featureSeconds = Date().timeIntervalSince(start)
        let metrics = writes ? try MetricsWriter(path: runDirectory + "/metrics.jsonl", tensorboard: c.run.tensorboard) : nil
        var rng = RunStreams(seed: UInt64(truncatingIfNeeded: c.run.seed)).order
        let probe = LinearProbe(dim: train.dim, classes: classes, rng: &rng)
        var best = 0.0
        let history = try probe.train(train: train, test: test, config: c.probe, rng: &rng, compute: compute) { e in
            best = Swift.max(best, e.top1)
            try metrics?.write(["epoch": e.epoch, "train_loss": e.trainLoss, "lr": e.lr, "test_top1": e.top1, "test_top5": e.top5,
                           "test_loss": e.testLoss, "time": Date().timeIntervalSince(start)])
            if e.epoch == 1 || e.epoch % 10 == 0 || e.epoch == c.probe.epochs {
                logger.info(.init(stringLiteral: String(format: "epoch %d/%d  train loss %.4f  %@ top-1 %.2f%%  top-5 %.2f%%", e.epoch,
                                                        c.probe.epochs, e.trainLoss, c.data.evaluationSplit, e.top1, e.top5)))
            }
        }
        let last = history.last!
        return ["features": c.probe.features.rawValue, "block": c.probe.block, "last_blocks": c.probe.lastBlocks, "pooling": c.probe.pooling.rawValue,
                "dim": train.dim, "train_images": train.count, "test_images": test.count, "classes": classes,
                "epochs": c.probe.epochs, "top1": last.top1, "top5": last.top5, "test_loss": last.testLoss, "best_top1": best,
                "feature_seconds": featureSeconds, "seconds": Date().timeIntervalSince(start), "pretrained": c.pretrained,
                "evaluation": c.data.evaluationSplit, "holdout": c.data.holdout]
    }

    /// Weighted k-NN; metrics.jsonl gets the one result line. Returns the summary record.
    public static func knn(_ c: FrozenFeaturesConfig, checkpoint: PretrainCheckpoint?, runDirectory: String,
                           compute: ComputeContext, communicator: any Communicator = SingleProcess(),
                           logger: Logger = Logger.current) throws -> [String: Any] {
        let start = Date()
        let (train, test, classes) = try features(c, checkpoint: checkpoint, compute: compute, communicator: communicator, logger: logger)
        let writes = communicator.isMain
        if c.probe.saveFeatures && writes { try saveFeatures(train, test, to: runDirectory + "/features.safetensors") }
        let r = try KNN.classify(train: train, test: test, classes: classes, k: c.probe.k, temperature: c.probe.temperature,
                                 compute: compute, communicator: communicator)
        let record: [String: Any] = ["features": c.probe.features.rawValue, "block": c.probe.block, "last_blocks": c.probe.lastBlocks, "pooling": c.probe.pooling.rawValue,
                                     "dim": train.dim, "train_images": train.count, "test_images": test.count, "classes": classes,
                                     "k": r.k, "temperature": r.temperature, "top1": r.top1, "top5": r.top5,
                                     "seconds": Date().timeIntervalSince(start), "pretrained": c.pretrained,
                                     "evaluation": c.data.evaluationSplit, "holdout": c.data.holdout]
        if writes { try MetricsWriter(path: runDirectory + "/metrics.jsonl", tensorboard: c.run.tensorboard).write(record) }
        return record
    }
}
