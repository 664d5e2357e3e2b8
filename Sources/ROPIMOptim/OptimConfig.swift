// The optimizer section of a config (`optim.*`), shared by pre-training and fine-tuning: AdamW, the
// linear-scaling rule, warm-up + cosine schedule, clipping and layer-wise LR decay. Pre-training takes the
// struct's defaults (SimMIM/ROPIM recipe); fine-tuning starts from `OptimConfig.fineTuning` (BEiT recipe).

public struct OptimConfig: Codable, Equatable, Sendable {
    public var epochs = 100
    /// Images per micro-batch; images per optimizer step = batch_size · accum_steps.
    public var batchSize = 128
    /// Gradient accumulation: micro-batches per optimizer step.
    public var accumSteps = 1
    /// Base learning rate for a total batch of 512; the run uses base · total_batch / 512 (as SimMIM;
    /// warmup_lr and min_lr scale too).
    public var baseLR = 1e-3
    public var warmupLR = 5e-7
    public var minLR = 5e-6
    public var warmupEpochs = 5.0
    /// AdamW weight decay (none on 1-D params, biases, cls, pos-embed and relative tables).
    public var weightDecay = 0.05
    public var betas = [0.9, 0.95]
    public var eps = 1e-8
    /// Layer-wise LR decay: parameters of layer l get lr · layer_decay^(depth + 1 − l) (1 = off; BEiT
    /// fine-tuning uses 0.65–0.75).
    public var layerDecay = 1.0
    /// Max global gradient norm (0 disables clipping).
    public var clipGrad = 5.0
    /// Stop after this many optimizer steps (0 = run all epochs); the schedule still spans all epochs.
    public var maxSteps = 0
    public init() {}

    /// The fine-tuning recipe (docs/METHOD.md §5; SimMIM/BEiT fine-tuning).
    public static var fineTuning: OptimConfig {
        var o = OptimConfig()
        o.baseLR = 5e-3; o.warmupLR = 2.5e-7; o.minLR = 2.5e-7
        o.betas = [0.9, 0.999]; o.layerDecay = 0.75
        return o
    }

    /// Images per optimizer step.
    public var totalBatch: Int { batchSize * accumSteps }

    /// The learning rates after the scaling rule (base · total_batch / 512).
    public var scaledLR: (peak: Double, warmup: Double, min: Double) {
        let s = Double(totalBatch) / 512
        return (baseLR * s, warmupLR * s, minLR * s)
    }

    /// Checks every key of this section once, here; errors name the key, its range and the value.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw OptimError(s) }
        func finite(_ key: String, _ v: Double, atLeast lo: Double) throws {
            if !(v.isFinite && v >= lo) { try fail("optim.\(key) must be a finite number ≥ \(lo), got \(v)") }
        }
        if !(1...1_000_000).contains(epochs) { try fail("optim.epochs must be in 1...1000000, got \(epochs)") }
        if !(1...1_000_000).contains(batchSize) { try fail("optim.batch_size must be in 1...1000000, got \(batchSize)") }
        if !(1...1_000_000).contains(accumSteps) { try fail("optim.accum_steps must be in 1...1000000, got \(accumSteps)") }
        if !(baseLR.isFinite && baseLR > 0) { try fail("optim.base_lr must be a positive finite number, got \(baseLR)") }
        try finite("warmup_lr", warmupLR, atLeast: 0)
        try finite("min_lr", minLR, atLeast: 0)
        try finite("warmup_epochs", warmupEpochs, atLeast: 0)
        if warmupEpochs > Double(epochs) * 1000 { try fail("optim.warmup_epochs must be at most 1000 × optim.epochs, got \(warmupEpochs)") }
        try finite("weight_decay", weightDecay, atLeast: 0)
        if betas.count != 2 || !betas.allSatisfy({ (0..<1).contains($0) }) {
            try fail("optim.betas must be two numbers in [0, 1), got \(betas)")
        }
        if !(eps.isFinite && eps > 0) { try fail("optim.eps must be a positive finite number, got \(eps)") }
        if !(layerDecay > 0 && layerDecay <= 1) { try fail("optim.layer_decay must be in (0, 1], got \(layerDecay)") }
        try finite("clip_grad", clipGrad, atLeast: 0)
        if maxSteps < 0 { try fail("optim.max_steps must be ≥ 0 (0 = all epochs), got \(maxSteps)") }
    }
}

/// An optimizer setting is out of range; the description names the key.
public struct OptimError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
