// Linear probing on cached features (MAE protocol): BatchNorm without affine parameters (batch
// statistics in training, running statistics at evaluation), then a linear head. Only the head learns,
// so nothing flows back into the features. Optimizer: SGD with momentum (torch semantics), linear
// warm-up then cosine; MAE uses LARS at very large batches, which a CPU run does not need.

import Foundation
import ROPIMKernels
import ROPIMNN
import ROPIMTraining
import ROPIMOptim

public struct ProbeEpoch: Sendable {
    public var epoch: Int
    public var trainLoss: Double
    public var lr: Double
    public var top1: Double, top5: Double, testLoss: Double
}

public final class LinearProbe {
    public let dim: Int
    public let classes: Int
    public let params = ParameterStore()
    public let head: Linear
    public let eps: Float = 1e-6
    public let bnMomentum: Float = 0.1
    /// BatchNorm running statistics (torch: mean 0, var 1 at start; unbiased batch variance in the update).
    public private(set) var runningMean: [Float], runningVar: [Float]

    public init(dim: Int, classes: Int, rng: inout RNG) {
        self.dim = dim; self.classes = classes
        head = Linear(params, "head.1", inFeatures: dim, outFeatures: classes)
        params.allocate()
        params.fill(head.weight) { _ in Float(rng.truncatedNormal(std: 0.01)) }   // MAE: trunc_normal_(std=0.01)
        params.fill(head.bias!) { _ in 0 }
        runningMean = [Float](repeating: 0, count: dim); runningVar = [Float](repeating: 1, count: dim)
    }

    /// x̂ [rows, dim] = (x − μ)/√(σ² + eps) with batch statistics (training; also updates running stats)
    /// or running statistics (evaluation).
    func normalize(_ x: UnsafePointer<Float>, rows: Int, training: Bool, into y: UnsafeMutablePointer<Float>) {
        var mean = runningMean, variance = runningVar
        if training {
            for j in 0..<dim {
                var s = 0.0
                for r in 0..<rows { s += Double(x[r * dim + j]) }
                let m = s / Double(rows)
                var v = 0.0
                for r in 0..<rows { let c = Double(x[r * dim + j]) - m; v += c * c }
                mean[j] = Float(m); variance[j] = Float(v / Double(rows))
                let unbiased = Float(v / Double(Swift.max(rows - 1, 1)))
                runningMean[j] = (1 - bnMomentum) * runningMean[j] + bnMomentum * mean[j]
                runningVar[j] = (1 - bnMomentum) * runningVar[j] + bnMomentum * unbiased
            }
        }
        let rstd = variance.map { 1 / ($0 + eps).squareRoot() }
        for r in 0..<rows { for j in 0..<dim { y[r * dim + j] = (x[r * dim + j] - mean[j]) * rstd[j] } }
    }

    /// Trains for `config.epochs` over `train` and evaluates on `test` after every epoch. A non-finite loss
    /// stops it with an error (the head diverged: the learning rate is too high for these features).
    public func train(train: FeatureSet, test: FeatureSet, config p: ProbeConfig, rng: inout RNG,
                      compute: ComputeContext, onEpoch: ((ProbeEpoch) throws -> Void)? = nil) throws -> [ProbeEpoch] {
        precondition(train.dim == dim && test.dim == dim, "feature dims do not match the probe")
        let bs = Swift.min(p.batchSize, train.count)
        let stepsPerEpoch = Swift.max(train.count / bs, 1)
        let peak = p.baseLR * Double(bs) / 256
        let schedule = CosineSchedule(peak: peak, warmupLR: 0, minLR: 0,
                                      warmupSteps: Int((p.warmupEpochs * Double(stepsPerEpoch)).rounded()),
                                      totalSteps: p.epochs * stepsPerEpoch)
        let sgd = SGD(params: params, momentum: Float(p.momentum), weightDecay: Float(p.weightDecay))
        let xb = Tensor(shape: [bs, dim]), xn = Tensor(shape: [bs, dim]), logits = Tensor(shape: [bs, classes])
        let targets = Tensor(shape: [bs, classes]), dLogits = Tensor(shape: [bs, classes])
        var history: [ProbeEpoch] = []
        var step = 0
        for epoch in 0..<p.epochs {
            let order = rng.permutation(train.count)
            var lossSum = 0.0
            for s in 0..<stepsPerEpoch {
                let lr = Float(schedule.lr(at: step))
                train.values.withUnsafeBufferPointer { v in
                    for i in 0..<bs { (xb.data + i * dim).update(from: v.baseAddress! + order[s * bs + i] * dim, count: dim) }
                }
                normalize(xb.data, rows: bs, training: true, into: xn.data)
                head.forward(params, x: xn.data, rows: bs, y: logits.data, compute: compute)
                targets.zero()
                for i in 0..<bs { targets[i * classes + train.labels[order[s * bs + i]]] = 1 }
                let loss = SoftmaxCrossEntropy.loss(logits: logits.data, targets: targets.data, batch: bs, classes: classes, dLogits: dLogits.data)
                guard loss.isFinite else {
                    throw DownstreamError("linear probe: the training loss is \(loss) at epoch \(epoch + 1), step \(s + 1) (lr \(lr)); the head diverged: lower probe.base_lr (now \(p.baseLR))")
                }
                lossSum += loss
                params.zeroGrads()
                head.backward(params, dy: dLogits.data, x: xn.data, rows: bs, dx: nil, compute: compute)
                sgd.update(lr: lr)
                step += 1
            }
            let ev = evaluate(test, compute: compute)
            let rec = ProbeEpoch(epoch: epoch + 1, trainLoss: lossSum / Double(stepsPerEpoch), lr: schedule.lr(at: Swift.max(step - 1, 0)),
                                 top1: ev.top1, top5: ev.top5, testLoss: ev.loss)
            history.append(rec)
            try onEpoch?(rec)
        }
        return history
    }

    /// Top-1/top-5 (percent) and mean cross-entropy with running BatchNorm statistics.
    public func evaluate(_ test: FeatureSet, compute: ComputeContext) -> (top1: Double, top5: Double, loss: Double) {
        let chunk = 1024
        let xn = Tensor(shape: [chunk, dim]), logits = Tensor(shape: [chunk, classes])
        var lossSum = 0.0, t1 = 0, t5 = 0, start = 0
        while start < test.count {
            let rows = Swift.min(chunk, test.count - start)
            test.values.withUnsafeBufferPointer { v in normalize(v.baseAddress! + start * dim, rows: rows, training: false, into: xn.data) }
            head.forward(params, x: xn.data, rows: rows, y: logits.data, compute: compute)
            let r = SoftmaxCrossEntropy.evaluate(logits: logits.data, labels: test.labels[start..<(start + rows)], classes: classes)
            lossSum += r.lossSum; t1 += r.top1; t5 += r.top5
            start += rows
        }
        let n = Double(Swift.max(test.count, 1))
        return (100 * Double(t1) / n, 100 * Double(t5) / n, lossSum / n)
    }
}
