// `ropim embed` as a library call: an encoder's final normalized tokens for the first N images of a split,
// as safetensors (`features` [N, tokens, D], `indices`, `labels`, optionally the normalized `images`), the
// public way to compare this model with another implementation (scripts/parity/compare_timm.py).

import Foundation
import ROPIMData
import ROPIMKernels
import ROPIMFiles

/// What to embed. Every number is checked once, by `validate()`.
public struct EmbedSettings: Equatable, Sendable {
    /// train | val | test
    public var split = "test"
    /// The first N images of the split (0 = all).
    public var count = 64
    /// Images per forward pass.
    public var batchSize = 64
    /// Also store the normalized input images.
    public var saveInputs = false
    public init() {}

    public func validate() throws {
        if count < 0 { throw CheckpointError(description: "--count must be ≥ 0 (0 = every image of the split), got \(count)") }
        if batchSize < 1 { throw CheckpointError(description: "--batch-size must be at least 1, got \(batchSize)") }
        if !["train", "val", "test"].contains(split) { throw CheckpointError(description: "--split must be train, val or test, got '\(split)'") }
    }
}

public enum Embedding {
    /// The data `encoder` was trained on (as far as its file says), whole: the split `split`, without the
    /// training subset, hold-out or packed cache, normalized as the encoder's file says.
    public static func dataConfig(for encoder: EncoderFile, split: String) -> DataConfig {
        var d = encoder.data
        d.normalization = encoder.normalization
        d.subset = 0; d.valFraction = 0; d.cache = ""; d.split = split
        return d
    }

    /// The images of `data` (checked against the encoder's input channels), in memory, decoded (or drawn,
    /// when synthetic) on `compute`'s threads.
    public static func images(_ data: DataConfig, encoder: EncoderFile, compute: ComputeContext) throws -> ImageDataset {
        try data.validate(channels: encoder.config.inChans)
        let seed = encoder.pretrainConfig?.run.seed ?? 0   // synthetic images are the run's own
        return try loadDataset(data, imgSize: encoder.config.imgSize, channels: encoder.config.inChans, seed: seed, compute: compute)
    }

    /// Features of the first `settings.count` images (no augmentation: images at the model's size go in
    /// unresized), with their indices and labels, ready for safetensors. Batches and forward passes run on `compute`.
    public static func tensors(_ encoder: EncoderFile, images: ImageDataset, settings s: EmbedSettings,
                               compute: ComputeContext) throws -> [NamedTensor] {
        try s.validate()
        let v = encoder.config, t = v.numTokens, d = v.embedDim
        let n = s.count > 0 ? Swift.min(s.count, images.count) : images.count
        var features = [Float](), inputs = [Float]()
        features.reserveCapacity(n * t * d)
        let batch = Tensor(shape: [0])
        for start in stride(from: 0, to: n, by: s.batchSize) {
            let idx = Array(start..<Swift.min(n, start + s.batchSize))
            makeBatch(images, indices: idx, size: v.imgSize, outChannels: v.inChans, normalization: encoder.normalization,
                      into: batch, compute: compute)
            features += encoder.features(batch, batch: idx.count, compute: compute).array
            if s.saveInputs { inputs += batch.array }
        }
        if let bad = Check.finite(features) {
            throw CheckpointError(description: "features of \(s.split) are not finite: \(bad) (encoder \(encoder.path)); the encoder or its normalization produces NaN or infinity")
        }
        var out = [NamedTensor(name: "features", shape: [n, t, d], values: features),
                   NamedTensor(name: "indices", shape: [n], values: (0..<n).map(Float.init))]
        if let labels = images.labels { out.append(NamedTensor(name: "labels", shape: [n], values: labels.prefix(n).map(Float.init))) }
        if s.saveInputs { out.append(NamedTensor(name: "images", shape: [n, v.inChans, v.imgSize, v.imgSize], values: inputs)) }
        return out
    }

    /// Writes `tensors` as a ropim-features file naming the checkpoint and split.
    public static func write(_ tensors: [NamedTensor], encoder: EncoderFile, split: String, to path: String) throws {
        try SafeTensors.write(tensors, metadata: RopimFormat.features.metadata(["checkpoint": encoder.path, "split": split]), to: path)
    }
}
