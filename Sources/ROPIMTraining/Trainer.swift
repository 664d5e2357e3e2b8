// The pre-training loop: data → forward → loss → backward (with accumulation) → clip → AdamW, with a
// per-iteration schedule, progress and metrics, a stop on a non-finite loss, and a final checkpoint.

import ROPIMData
import Foundation
import ROPIMCore
import ROPIMKernels
import ROPIMNN
import ROPIMOptim
import ROPIMFiles
import ROPIMConfig
import ROPIMDistributed

public struct TrainingError: Error, CustomStringConvertible { public let description: String }

public struct TrainSummary: Sendable {
    public var steps: Int
    public var firstLoss: Double
    public var lastLoss: Double
    /// Mean loss of the first and last epoch (or the first/last 10 % of steps when shorter).
    public var meanLossStart: Double
    public var meanLossEnd: Double
    public var seconds: Double
    public var runDirectory: String
    public var checkpoint: String
    /// Stopped by SIGINT/SIGTERM: a resumable checkpoint was written instead of the final one.
    public var interrupted = false
    /// Seconds of `seconds` spent in the gradient and loss all-reduces (0 for a single process).
    public var communicationSeconds = 0.0
}

/// Random streams of a run, all derived from the one seed. The data stream seeds the loader, which
/// derives each sample's augmentation from (seed, epoch, index); the corruption stream gives the seed from
/// which each image's corruption and drop-path draws derive the same way (`RNG.image`).
public struct RunStreams {
    public var initialization: RNG, order: RNG, corruption: RNG
    public init(seed: UInt64) {
        let root = RNG(seed: seed)
        initialization = root.derived(stream: 1); order = root.derived(stream: 2); corruption = root.derived(stream: 4)
    }
}

public final class PretrainTrainer {
    public let config: PretrainConfig
    public let model: any PretrainingObjective
    public let dataset: any ImageSource
    /// Batches for training: shuffled per epoch, augmented, built ahead on `data.workers` threads.
    public let loader: DataLoader
    public let optimizer: AdamW
    public let schedule: CosineSchedule
    public let stepsPerEpoch: Int
    /// Threads of every step; their count is saved in resumable checkpoints.
    public let compute: ComputeContext
    /// The ranks of a data-parallel run: each trains on its share of every global batch; rank 0 writes.
    public let communicator: any Communicator
    public var log: (String) -> Void = { print($0) }
    /// Called after epochs that are multiples of `run.knn_every` (when > 0) with the 1-based epoch; the
    /// returned metrics (e.g. knn_top1) go into metrics.jsonl with the epoch and step.
    public var epochHook: ((Int, any PretrainingObjective) throws -> [String: Any])?
    var streams: RunStreams
    /// Image i of epoch e draws its corruption and drop path from `RNG.image(seed: corruptionSeed, epoch: e, index: i)`.
    let corruptionSeed: UInt64
    /// The state this trainer resumed from, if any.
    public private(set) var resumed: RunState?
    var epochLosses: [Double] = []

    /// Resumes from `resume` (a checkpoint directory holding state.json) when given: weights, moments,
    /// and loader position. `start` alone only repositions the data stream.
    public convenience init(config: PretrainConfig, dataset: any ImageSource, compute: ComputeContext, resume ckpt: String,
                            communicator: any Communicator = SingleProcess()) throws {
        let state = try RunCheckpoint.state(at: ckpt)
        try config.validate()
        let steps = dataset.count / config.optim.globalBatch(worldSize: communicator.worldSize)   // as init computes it; 0: init says why
        if steps > 0 {
            try state.validate(file: ckpt + "/state.json", epochs: config.optim.epochs, stepsPerEpoch: steps, accumSteps: config.optim.accumSteps)
        }
        try self.init(config: config, dataset: dataset, compute: compute, start: state.dataPosition, communicator: communicator)
        try RunCheckpoint.restore(ckpt, model: model, optimizer: optimizer, state: state)
        epochLosses = state.epochLosses
        resumed = state
    }

    /// `start` resumes the data stream at a saved loader position (same seed and data).
    public init(config: PretrainConfig, dataset: any ImageSource, compute: ComputeContext, start: LoaderPosition? = nil,
                communicator: any Communicator = SingleProcess()) throws {
        try config.validate()
        self.config = config
        self.dataset = dataset
        self.compute = compute
        self.communicator = communicator
        let ranks = communicator.worldSize, global = config.optim.globalBatch(worldSize: ranks)
        let outChannels = config.model.inChans
        if dataset.channels != outChannels && !(dataset.channels == 1 && outChannels == 3) {
            throw TrainingError(description: "\(dataset.source) has \(dataset.channels)-channel images but model.in_chans is \(outChannels); set model.in_chans to \(dataset.channels)\(dataset.channels == 1 ? " (or 3 to replicate gray)" : "")")
        }
        stepsPerEpoch = dataset.count / global
        guard stepsPerEpoch > 0 else {
            throw TrainingError(description: "\(dataset.source) has \(dataset.count) images, fewer than one batch of \(global) (optim.batch_size \(config.optim.batchSize) × optim.accum_steps \(config.optim.accumSteps)\(ranks > 1 ? " × \(ranks) ranks" : "")); lower --batch-size or use more data")
        }
        model = try Objectives.make(vit: config.model, method: config.method)
        streams = RunStreams(seed: UInt64(truncatingIfNeeded: config.run.seed))
        model.initialize(rng: &streams.initialization)
        var corruptionStream = streams.corruption
        corruptionSeed = corruptionStream.next()
        // The loader's orders and per-sample draws derive from one number of the run's data-order stream.
        var orderStream = streams.order
        let transform = try SampleTransform(size: config.model.imgSize, outChannels: outChannels,
                                            normalization: config.data.normalization, augment: config.data.augment)
        loader = try DataLoader(source: dataset, batchSize: config.optim.batchSize, transform: transform, seed: orderStream.next(),
                                batchesPerEpoch: stepsPerEpoch * config.optim.accumSteps, threads: config.data.workers,
                                prefetch: config.data.prefetch, skipBad: config.data.skipBad, start: start,
                                rank: communicator.rank, worldSize: ranks, compute: compute)
        let o = config.optim
        optimizer = AdamW(params: model.params, config: o, depth: config.model.depth)
        let lr = config.scaledLR(worldSize: ranks)
        schedule = CosineSchedule(peak: lr.peak, warmupLR: lr.warmup, minLR: lr.min,
                                  warmupSteps: Int((o.warmupEpochs * Double(stepsPerEpoch)).rounded()),
                                  totalSteps: o.epochs * stepsPerEpoch)
    }

    /// Trains; `runDirectory` gets config.yaml (written by the caller), metrics.jsonl and checkpoint.safetensors.
    /// In a data-parallel run every rank trains and rank 0 alone writes. `onStep` sees (step, loss) after every
    /// optimizer step (tests use it).
    @discardableResult
    public func train(runDirectory: String, progress: Progress = Progress(),
                      onStep: ((Int, Double) -> Void)? = nil) throws -> TrainSummary {
        let c = config, o = c.optim, writes = communicator.isMain
        let metrics = writes ? try MetricsWriter(path: runDirectory + "/metrics.jsonl", keepingStepsUpTo: resumed?.step) : nil
        let start = Date()
        let first = loader.position
        var step = first.epoch * stepsPerEpoch + first.batch / o.accumSteps
        // optim.max_steps counts this invocation's steps (a resumed run goes on from where it stopped).
        let totalSteps = o.maxSteps > 0 ? Swift.min(step + o.maxSteps, o.epochs * stepsPerEpoch) : o.epochs * stepsPerEpoch
        var epochSum = 0.0, epochCount = 0, savedStep = -1
        // Called at the same steps on every rank (the ranks check they still hold the same weights); rank 0 writes.
        func save() throws -> String {
            try RankAgreement.checkWeights(model.params, step: step, communicator: communicator)
            savedStep = step
            let state = RunState(ropimVersion: ropimVersion, step: step, adamStep: optimizer.step,
                                 dataPosition: loader.position, epochLosses: epochLosses,
                                 threads: compute.threads, worldSize: communicator.worldSize, config: (try? ConfigLoader.yaml(c)) ?? "")
            let best = !epochLosses.isEmpty && epochLosses.last == epochLosses.min() && loader.position.batch == 0
            guard writes else { return RunCheckpoint.path(step: step, in: runDirectory) }
            return try RunCheckpoint.save(model: model, optimizer: optimizer, state: state, in: runDirectory,
                                          keepLast: c.run.keepLast, best: best)
        }
        var work = TrainLoop.Work(forward: { _ in
            let batch = try self.loader.next()
            var rngs = batch.indices.map { RNG.image(seed: self.corruptionSeed, epoch: batch.epoch, index: $0) }
            return self.model.forward(images: batch.images, batch: o.batchSize, training: true, rngs: &rngs, compute: self.compute)
        }, backward: { self.model.backward(lossScale: $0, compute: self.compute) })
        work.stopRequested = { StopSignal.requested }
        work.afterStep = { done, _, index, loss in
            step = done
            epochSum += loss; epochCount += 1
            if index == self.stepsPerEpoch - 1 { self.epochLosses.append(epochSum / Double(epochCount)); epochSum = 0; epochCount = 0 }
            if (c.run.saveEvery > 0 && done % c.run.saveEvery == 0) || index == self.stepsPerEpoch - 1 { _ = try save() }
            onStep?(done, loss)
        }
        work.afterEpoch = { epoch, done, complete in
            guard complete, let epochHook = self.epochHook, c.run.knnEvery > 0,
                  (epoch + 1) % c.run.knnEvery == 0 || epoch + 1 == o.epochs else { return }
            var record = try epochHook(epoch + 1, self.model)
            record["epoch"] = epoch + 1; record["step"] = done; record["time"] = Date().timeIntervalSince(start)
            try metrics?.write(record)
            progress.message(record.keys.sorted().compactMap { k in (record[k] as? Double).map { String(format: "%@ %.3f", k, $0) } }.joined(separator: "  "))
        }
        let loop = TrainLoop(params: model.params, optimizer: optimizer, optim: o, compute: compute, communicator: communicator)
        let result = try loop.run(schedule: schedule, stepsPerEpoch: stepsPerEpoch, from: (first.epoch, first.batch / o.accumSteps),
                                  totalSteps: totalSteps, metrics: metrics,
                                  progress: progress, logEvery: c.run.logEvery, runDirectory: runDirectory, work: work)
        let losses = result.losses
        step = result.step
        if result.stopped {
            let path = try save()
            progress.message("stopped by signal at step \(step); resumable checkpoint \(path) (continue with --resume \(runDirectory))")
            return TrainSummary(steps: step, firstLoss: losses.first ?? .nan, lastLoss: losses.last ?? .nan,
                                meanLossStart: .nan, meanLossEnd: .nan, seconds: Date().timeIntervalSince(start),
                                runDirectory: runDirectory, checkpoint: path, interrupted: true)
        }
        // Stopped early by optim.max_steps: leave a resumable checkpoint so the run can be continued (unless this
        // step already has one: saved above, or the one this invocation resumed from when it took no step).
        if step < o.epochs * stepsPerEpoch && savedStep != step && !losses.isEmpty {
            _ = try save()
        }
        let seconds = Date().timeIntervalSince(start)
        let checkpoint = runDirectory + "/checkpoint.safetensors"
        if writes { try saveCheckpoint(model: model, config: c, step: step, dataPosition: loader.position, to: checkpoint) }
        let window = Swift.max(1, Swift.min(stepsPerEpoch, losses.count / 10))
        let startMean = losses.prefix(window).reduce(0, +) / Double(Swift.min(window, losses.count))
        let endMean = losses.suffix(window).reduce(0, +) / Double(Swift.min(window, losses.count))
        return TrainSummary(steps: step, firstLoss: losses.first ?? .nan, lastLoss: losses.last ?? .nan,
                            meanLossStart: startMean, meanLossEnd: endMean, seconds: seconds,
                            runDirectory: runDirectory, checkpoint: checkpoint, communicationSeconds: loop.communicationSeconds)
    }
}

/// Writes the model's parameters (torch names and shapes) and the resolved config as safetensors.
/// `dataPosition` (the loader's next batch) is stored as JSON under "data_position" so a resumed run can
/// continue the same epoch order and augmentation draws.
public func saveCheckpoint(model: any PretrainingObjective, config: PretrainConfig, step: Int, dataPosition: LoaderPosition? = nil,
                           to path: String) throws {
    let tensors = model.params.namedTensors()
    let yaml = (try? ConfigLoader.yaml(config)) ?? ""
    var meta = RopimFormat.pretrain.metadata(["step": String(step), "config": yaml])
    if let dataPosition, let json = try? JSONEncoder().encode(dataPosition) { meta["data_position"] = String(decoding: json, as: UTF8.self) }
    try SafeTensors.write(tensors, metadata: meta, to: path)
}
