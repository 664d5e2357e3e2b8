// The one training loop, shared by pre-training and fine-tuning (as MAE shares engine_*.py):
//   zero grads → forward and backward (per micro-batch) → global loss and finite check → gradient
//   all-reduce (data-parallel runs average the flat gradient buffer over ranks, DDP's rule) → clip → AdamW
//   → metrics and progress → the caller's per-step and per-epoch work (checkpoints, evaluation) → stop at a
//   step boundary on a signal (any rank's signal stops every rank at the same step).
// `step` is also the timed step of both benchmarks.

import Foundation
import ROPIMKernels
import ROPIMNN
import ROPIMOptim
import ROPIMDistributed

/// A loss that is NaN or ±inf: the run stops with what to change.
public struct NonFiniteLoss: Error {
    public let loss: Double
}

public final class TrainLoop {
    public let params: ParameterStore
    public let optimizer: AdamW
    public let optim: OptimConfig
    /// Threads of the optimizer update (the forward and backward closures bring their own context).
    public let compute: ComputeContext
    /// The ranks of a data-parallel run (a `SingleProcess` otherwise): gradients and losses are averaged over them.
    public let communicator: any Communicator
    /// Seconds spent in the gradient and loss all-reduces so far (0 for a single process).
    public private(set) var communicationSeconds = 0.0

    /// The work around each step that differs between trainers. `forward(i)` runs micro-batch i of the
    /// step (fetching its data) and returns its loss; `backward(scale)` accumulates its gradients ×scale.
    public struct Work {
        public var forward: (_ micro: Int) throws -> Double
        public var backward: (_ lossScale: Float) -> Void
        /// After every optimizer step (1-based `step`), with the epoch (0-based) and the step's index in it.
        public var afterStep: (_ step: Int, _ epoch: Int, _ index: Int, _ loss: Double) throws -> Void = { _, _, _, _ in }
        /// After an epoch that ran at least one step; `complete` is false when `totalSteps` cut it short.
        public var afterEpoch: (_ epoch: Int, _ step: Int, _ complete: Bool) throws -> Void = { _, _, _ in }
        /// Asked before every step; true stops the loop there (`RunResult.stopped`).
        public var stopRequested: () -> Bool = { false }
        public init(forward: @escaping (Int) throws -> Double, backward: @escaping (Float) -> Void) {
            self.forward = forward; self.backward = backward
        }
    }

    public struct RunResult {
        /// Optimizer steps taken in total (including those before a resume).
        public var step: Int
        /// The loss of each step this run took.
        public var losses: [Double]
        /// Stopped by `stopRequested` before `totalSteps`.
        public var stopped: Bool
    }

    public init(params: ParameterStore, optimizer: AdamW, optim: OptimConfig, compute: ComputeContext,
                communicator: any Communicator = SingleProcess()) {
        self.params = params; self.optimizer = optimizer; self.optim = optim; self.compute = compute
        self.communicator = communicator
    }

    /// One optimizer step at learning rate `lr` over `optim.accum_steps` micro-batches: returns the mean
    /// loss over every rank's images and the norm of the averaged gradient before clipping (both the same on
    /// every rank). Throws `NonFiniteLoss` (on every rank at once) before any update.
    public func step(lr: Double, forward: (Int) throws -> Double, backward: (Float) -> Void) throws -> (loss: Double, gradNorm: Double) {
        let micro = optim.accumSteps, ranks = communicator.worldSize
        params.zeroGrads()
        var loss = [0.0]
        for i in 0..<micro {
            let l = try forward(i)
            loss[0] += l / Double(micro)
            guard l.isFinite else { break }   // no backward of a non-finite loss; the ranks agree on it below
            backward(1 / Float(micro))
        }
        if ranks > 1 {
            let start = Date()
            communicator.allReduce(&loss, .sum)
            loss[0] /= Double(ranks)
            if loss[0].isFinite {
                // DDP: the gradient of the mean loss over all ranks' images = the mean of the ranks' gradients.
                communicator.allReduceSum(params.grads.data, count: params.count)
                let g = params.grads.data, inverse = 1 / Float(ranks)
                for i in 0..<params.count { g[i] *= inverse }
            }
            communicationSeconds += Date().timeIntervalSince(start)
        }
        guard loss[0].isFinite else { throw NonFiniteLoss(loss: loss[0]) }
        let gradNorm = GradientClipping.clip(params, maxNorm: optim.clipGrad)
        optimizer.update(lr: Float(lr), compute: compute)
        return (loss[0], gradNorm)
    }

    /// Trains from `start` (epoch, step index in it; the global step is epoch·stepsPerEpoch + index) until
    /// `totalSteps`, the end of `optim.epochs`, or a stop request, at the learning rates of `schedule`.
    /// Every step writes a metrics record (step, epoch, loss, lr, grad_norm, images_per_second, time) and
    /// a progress line.
    public func run(schedule: CosineSchedule, stepsPerEpoch: Int, from start: (epoch: Int, index: Int), totalSteps: Int,
                    metrics: MetricsWriter?, progress: Progress,
                    logEvery: Int, runDirectory: String, work: Work) throws -> RunResult {
        let o = optim, clock = Date()
        var step = start.epoch * stepsPerEpoch + start.index
        var losses: [Double] = []
        var windowStart = Date(), windowImages = 0
        for epoch in start.epoch..<o.epochs {
            var ran = 0
            for index in (epoch == start.epoch ? start.index : 0)..<stepsPerEpoch {
                if step >= totalSteps { break }
                if communicator.any(work.stopRequested()) { return RunResult(step: step, losses: losses, stopped: true) }
                let lr = schedule.lr(at: step)
                let r: (loss: Double, gradNorm: Double)
                do { r = try self.step(lr: lr, forward: work.forward, backward: work.backward) } catch let e as NonFiniteLoss {
                    throw TrainingError(description: "loss is \(e.loss) at epoch \(epoch + 1), step \(step + 1) (lr \(sci(lr))); the run diverged. Lower optim.base_lr (now \(o.baseLR)), keep optim.clip_grad > 0 (now \(o.clipGrad)), or check the data normalization. Metrics so far: \(runDirectory)/metrics.jsonl")
                }
                step += 1; ran += 1
                losses.append(r.loss)
                windowImages += o.globalBatch(worldSize: communicator.worldSize)
                let elapsed = Date().timeIntervalSince(windowStart)
                let ips = Double(windowImages) / Swift.max(elapsed, 1e-9)
                try metrics?.write(["step": step, "epoch": epoch + 1, "loss": r.loss, "lr": lr, "grad_norm": r.gradNorm,
                               "images_per_second": ips, "time": Date().timeIntervalSince(clock)])
                let line = String(format: "epoch %d/%d  step %d/%d  loss %.4f  lr %@  grad %.3f  %.1f img/s",
                                  epoch + 1, o.epochs, step, totalSteps, r.loss, sci(lr), r.gradNorm, ips)
                progress.update(line, force: step % Swift.max(logEvery, 1) == 0 || step == totalSteps || step == 1)
                if elapsed > 5 { windowStart = Date(); windowImages = 0 }
                try work.afterStep(step, epoch, index, r.loss)
            }
            guard ran > 0 else { break }
            let complete = (epoch == start.epoch ? start.index : 0) + ran == stepsPerEpoch
            try work.afterEpoch(epoch, step, complete)
            if !complete { break }
        }
        return RunResult(step: step, losses: losses, stopped: false)
    }
}
