// The optimizer section of a config (`optim.*`), shared by pre-training and fine-tuning: AdamW, the
// linear-scaling rule, warm-up + cosine schedule, clipping and layer-wise LR decay. Pre-training takes the
// struct's defaults (SimMIM/ROPIM recipe); fine-tuning starts from `OptimConfig.fineTuning` (BEiT recipe).

import ROPIMKernels

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
    /// Stop after this many optimizer steps of this invocation (0 = run all epochs; a resumed run counts
    /// from where it resumed); the schedule still spans all epochs. Not part of a saved run.
    public var maxSteps = 0
    public init() {}

    /// The fine-tuning recipe (docs/METHOD.md §5; SimMIM/BEiT fine-tuning).
    public static var fineTuning: OptimConfig {
        var o = OptimConfig()
        o.baseLR = 5e-3; o.warmupLR = 2.5e-7; o.minLR = 2.5e-7
        o.betas = [0.9, 0.999]; o.layerDecay = 0.75
        return o
    }

    /// Images per optimizer step of one process (batch_size × accum_steps).
    public var totalBatch: Int { batchSize * accumSteps }

    /// Images per optimizer step over all `worldSize` data-parallel ranks (DDP: batch_size is per rank).
    public func globalBatch(worldSize: Int = 1) -> Int { totalBatch * worldSize }

    /// The learning rates after the scaling rule (base · global batch / 512; MAE/BEiT's rule, where the
    /// global batch is batch_size × accum_steps × world size).
    public func scaledLR(worldSize: Int = 1) -> (peak: Double, warmup: Double, min: Double) {
        let s = Double(globalBatch(worldSize: worldSize)) / 512
        return (baseLR * s, warmupLR * s, minLR * s)
    }

    /// Checks every key of this section once, here; errors name the key, its range and the value.
    public func validate() throws {
        try Check.all([
            Check.int("optim.epochs", epochs, 1...1_000_000),
            Check.int("optim.batch_size", batchSize, 1...1_000_000),
            Check.int("optim.accum_steps", accumSteps, 1...1_000_000),
            Check.real("optim.base_lr", baseLR, 0...1e6, lowerOpen: true),
            Check.real("optim.warmup_lr", warmupLR, 0...1e6),
            Check.real("optim.min_lr", minLR, 0...1e6),
            Check.real("optim.warmup_epochs", warmupEpochs, 0...Double(Swift.max(epochs, 1)) * 1000),
            Check.real("optim.weight_decay", weightDecay, 0...1e6),
            betas.count == 2 && betas.allSatisfy({ (0..<1).contains($0) }) ? nil : "optim.betas must be two numbers in [0, 1), got \(betas)",
            Check.real("optim.eps", eps, 0...1, lowerOpen: true),
            Check.real("optim.layer_decay", layerDecay, 0...1, lowerOpen: true, " (1 = off)"),
            Check.real("optim.clip_grad", clipGrad, 0...1e12, " (0 = no clipping)"),
            Check.int("optim.max_steps", maxSteps, 0...Int(Int32.max), " (0 = all epochs)"),
        ], OptimError.init)
    }
}

/// An optimizer setting is out of range; the description names the key.
public struct OptimError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
