// The fine-tuning loop (SimMIM/BEiT recipe, docs/METHOD.md §4–5): augment → Mixup/CutMix with smoothed
// targets → classifier → soft-target cross-entropy → backward → clip → AdamW with layer-wise LR decay,
// per-step warm-up + cosine; evaluation on the test split after every epoch, best checkpoint kept.
// Data-parallel under mpirun as pre-training is (docs/DISTRIBUTED.md): each rank trains on its share of every
// global batch, the test split is dealt over the ranks, rank 0 writes.

import Foundation
import ROPIMData
import ROPIMDistributed
import ROPIMKernels
import ROPIMNN
import ROPIMTraining
import ROPIMOptim
import ROPIMFiles
import ROPIMConfig

public struct EvalResult: Sendable {
    public var top1: Double   // percent
    public var top5: Double   // percent
    public var loss: Double   // mean cross-entropy with hard labels
}

public struct FinetuneSummary: Sendable {
    public var steps: Int
    public var epochs: Int
    public var bestTop1: Double
    public var bestEpoch: Int
    public var final: EvalResult
    public var seconds: Double
    public var runDirectory: String
    public var bestCheckpoint: String
}

public final class FinetuneTrainer {
    public let config: FinetuneConfig
    public let classifier: ViTClassifier
    public let train: ImageDataset
    public let test: ImageDataset
    public let classes: Int
    public let optimizer: AdamW
    public let schedule: CosineSchedule
    public let stepsPerEpoch: Int
    /// Threads of every step and evaluation.
    public let compute: ComputeContext
    /// The ranks of a data-parallel run: each trains on its share of every global batch; rank 0 writes.
    public let communicator: any Communicator
    /// What loading the checkpoint matched (nil when training from scratch).
    public private(set) var loadReport: LoadReport?
    var streams: RunStreams

    /// Builds and initializes the classifier; with `pretrained`, its encoder weights replace the initialization.
    public init(config: FinetuneConfig, train: ImageDataset, test: ImageDataset, pretrained: PretrainCheckpoint? = nil,
                compute: ComputeContext, communicator: any Communicator = SingleProcess()) throws {
        try config.validate()
        self.config = config
        self.compute = compute
        self.communicator = communicator
        self.train = train
        self.test = test
        let c = config.model
        for d in [train, test] where d.channels != c.inChans && !(d.channels == 1 && c.inChans == 3) {
            throw DownstreamError("\(d.source) has \(d.channels)-channel images but model.in_chans is \(c.inChans)")
        }
        classes = try DownstreamData.classes(requested: config.method.classes, train: train, test: test)
        let ranks = communicator.worldSize, global = config.optim.globalBatch(worldSize: ranks)
        stepsPerEpoch = train.count / global
        guard stepsPerEpoch > 0 else {
            throw DownstreamError("\(train.source) has \(train.count) training images, fewer than one optimizer step of \(global) (optim.batch_size \(config.optim.batchSize) × optim.accum_steps \(config.optim.accumSteps)\(ranks > 1 ? " × \(ranks) ranks" : "")); lower --batch-size")
        }
        classifier = try ViTClassifier(vit: c, classes: classes)
        streams = RunStreams(seed: UInt64(truncatingIfNeeded: config.run.seed))
        classifier.initialize(rng: &streams.initialization, headInitScale: config.method.headInitScale)
        if let pretrained {
            loadReport = try classifier.loadPretrained(pretrained, source: config.pretrained.isEmpty ? "checkpoint" : config.pretrained)
        }
        let o = config.optim
        optimizer = AdamW(params: classifier.params, config: o, depth: c.depth)
        let lr = config.scaledLR(worldSize: ranks)
        schedule = CosineSchedule(peak: lr.peak, warmupLR: lr.warmup, minLR: lr.min,
                                  warmupSteps: Int((o.warmupEpochs * Double(stepsPerEpoch)).rounded()),
                                  totalSteps: o.epochs * stepsPerEpoch)
    }

    /// Top-1/top-5/loss on the test split (whole images, no augmentation, no drop path). Data-parallel: the
    /// batches are dealt over the ranks (`BatchDeal`) and the hit counts and loss sums all-reduced, so every
    /// rank returns the result (top-1/top-5 as one process's; the loss up to the order of its sum). Every rank
    /// must call it together.
    public func evaluate(batchSize: Int = 256) -> EvalResult {
        let c = config.model
        let images = Tensor(shape: [0])
        var sums = [0.0, 0.0, 0.0]   // loss, top-1 hits, top-5 hits
        let labels = test.labels!.map(Int.init)
        for items in BatchDeal(count: test.count, batchSize: batchSize, communicator: communicator).mine {
            makeBatch(test, indices: Array(items), size: c.imgSize, outChannels: c.inChans,
                      normalization: config.data.normalization, into: images, compute: compute)
            let logits = classifier.forward(images: images, batch: items.count, compute: compute)
            let r = SoftmaxCrossEntropy.evaluate(logits: logits.data, labels: labels[items], classes: classes)
            sums[0] += r.lossSum; sums[1] += Double(r.top1); sums[2] += Double(r.top5)
        }
        communicator.allReduce(&sums, .sum)
        let n = Double(test.count)
        return EvalResult(top1: 100 * sums[1] / n, top5: 100 * sums[2] / n, loss: sums[0] / n)
    }

    /// Trains; `runDirectory` gets metrics.jsonl (per step and per epoch), best.safetensors (best test top-1)
    /// and checkpoint.safetensors (last). The caller writes config.yaml and summary.json. In a data-parallel
    /// run every rank trains and evaluates, and rank 0 alone writes.
    @discardableResult
    public func run(runDirectory: String, progress: ROPIMTraining.Progress = ROPIMTraining.Progress(), onStep: ((Int, Double) -> Void)? = nil) throws -> FinetuneSummary {
        let c = config, o = c.optim, m = c.model, writes = communicator.isMain
        let metrics = writes ? try MetricsWriter(path: runDirectory + "/metrics.jsonl", tensorboard: c.run.tensorboard) : nil
        let totalSteps = o.maxSteps > 0 ? Swift.min(o.maxSteps, o.epochs * stepsPerEpoch) : o.epochs * stepsPerEpoch
        let targets = Tensor(shape: [o.batchSize, classes]), dLogits = Tensor(shape: [o.batchSize, classes])
        let mix = MixupSettings(mixupAlpha: c.method.mixup, cutmixAlpha: c.method.cutmix, prob: c.method.mixupProb,
                                switchProb: c.method.switchProb, labelSmoothing: c.method.labelSmoothing, classes: classes)
        // Batches: per-epoch shuffle, augmentation (crop, flip, RandAugment, erasing) on `data.workers`
        // loader threads, each image's draws derived from (seed, epoch, index).
        let transform = try SampleTransform(size: m.imgSize, outChannels: m.inChans, normalization: c.data.normalization,
                                            augment: c.data.augment)
        var orderStream = streams.order
        let loader = try DataLoader(source: train, batchSize: o.batchSize, transform: transform, seed: orderStream.next(),
                                    batchesPerEpoch: stepsPerEpoch * o.accumSteps, threads: c.data.workers, prefetch: c.data.prefetch,
                                    rank: communicator.rank, worldSize: communicator.worldSize, compute: compute)
        // Mixup/CutMix draws (one λ, and box, per batch). Each rank mixes its own batch, as timm under DDP does,
        // so N ranks × B cannot equal one process with N·B while they are on. Rank 0 draws from the
        // single-process stream, rank r > 0 from its own stream of (seed, r): a run is reproducible for its N.
        let rank = UInt64(communicator.rank)
        var mixRNG = rank == 0 ? streams.corruption : streams.corruption.derived(stream: 0x4D49_5800 + rank)
        var dropSeed = streams.corruption.derived(stream: 9)   // drop path: image b's from (seed, epoch, index)
        let dropBase = dropSeed.next()
        let start = Date()
        var best = -1.0, bestEpoch = 0
        var last = EvalResult(top1: 0, top5: 0, loss: .nan)
        var epochsDone = 0, epochLoss = 0.0, epochSteps = 0
        var work = TrainLoop.Work(forward: { _ in
            let batch = try loader.next()
            let images = batch.images
            Mixup.apply(images: images, labels: batch.labels!.map(Int.init), settings: mix, rng: &mixRNG, targets: targets)
            var drops = batch.indices.map { RNG.image(seed: dropBase, epoch: batch.epoch, index: $0) }
            let logits = self.classifier.forward(images: images, batch: o.batchSize, training: true, rngs: &drops, compute: self.compute)
            return SoftmaxCrossEntropy.loss(logits: logits.data, targets: targets.data, batch: o.batchSize,
                                            classes: self.classes, dLogits: dLogits.data)
        }, backward: { scale in
            if scale != 1 { for i in 0..<dLogits.count { dLogits[i] *= scale } }   // accumulation: 1 / accum_steps
            self.classifier.backward(dLogits.data, compute: self.compute)
        })
        work.afterStep = { step, _, _, loss in
            epochSteps += 1; epochLoss += loss
            onStep?(step, loss)
        }
        work.afterEpoch = { epoch, step, _ in
            epochsDone = epoch + 1
            last = self.evaluate()
            try metrics?.write(["epoch": epoch + 1, "step": step, "train_loss": epochLoss / Double(epochSteps),
                           "test_top1": last.top1, "test_top5": last.top5, "test_loss": last.loss,
                           "time": Date().timeIntervalSince(start)])
            if last.top1 > best {
                best = last.top1; bestEpoch = epoch + 1
                if writes { try self.save(to: runDirectory + "/best.safetensors", step: step, epoch: epoch + 1, eval: last) }
            }
            progress.message(String(format: "epoch %d: train loss %.4f  test top-1 %.2f%%  top-5 %.2f%%  loss %.4f  (best %.2f%% at epoch %d)",
                                    epoch + 1, epochLoss / Double(epochSteps), last.top1, last.top5, last.loss, best, bestEpoch))
            epochLoss = 0; epochSteps = 0
        }
        let loop = TrainLoop(params: classifier.params, optimizer: optimizer, optim: o, compute: compute, communicator: communicator)
        let step = try loop.run(schedule: schedule, stepsPerEpoch: stepsPerEpoch, from: (0, 0), totalSteps: totalSteps, metrics: metrics, progress: progress, logEvery: c.run.logEvery,
                                runDirectory: runDirectory, work: work).step
        if writes { try save(to: runDirectory + "/checkpoint.safetensors", step: step, epoch: epochsDone, eval: last) }
        return FinetuneSummary(steps: step, epochs: epochsDone, bestTop1: best, bestEpoch: bestEpoch, final: last,
                               seconds: Date().timeIntervalSince(start), runDirectory: runDirectory,
                               bestCheckpoint: runDirectory + "/best.safetensors")
    }

    /// The classifier's weights (timm names) with the resolved config and the evaluation in the metadata.
    public func save(to path: String, step: Int, epoch: Int, eval: EvalResult) throws {
        let yaml = (try? ConfigLoader.yaml(config)) ?? ""
        try SafeTensors.write(classifier.params.namedTensors(), metadata: RopimFormat.finetune.metadata([
            "step": String(step), "epoch": String(epoch), "classes": String(classes), "test_top1": String(eval.top1),
            "config": yaml]), to: path)
    }
}
