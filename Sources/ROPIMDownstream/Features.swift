// Frozen features for linear probing and k-NN: the encoder runs once over a dataset (no corruption,
// no augmentation, no drop path) and one vector per image is kept, from a chosen block, cls or averaged.

import Foundation
import ROPIMData
import ROPIMKernels
import ROPIMNN

/// Features of `count` images, row-major [count, dim], with their labels.
public struct FeatureSet {
    public var dim: Int
    public var values: [Float]
    public var labels: [Int]
    public var count: Int { labels.count }
    public init(dim: Int, values: [Float], labels: [Int]) {
        precondition(values.count == dim * labels.count, "\(values.count) feature values for \(labels.count) × \(dim)")
        self.dim = dim; self.values = values; self.labels = labels
    }
}

public enum Features {
    /// Runs `encoder` over every image of `data` (in order) and pools block `block`'s output
    /// (−1: the encoder's final output, after its final norm when it has one).
    public static func extract(encoder: VisionTransformer, data: ImageDataset, normalization: Normalization,
                               block: Int = -1, pooling: FeaturePooling = .avg, batchSize: Int = 256,
                               progress: ((Int) -> Void)? = nil) throws -> FeatureSet {
        let c = encoder.config, d = c.embedDim, n = c.numTokens
        guard block >= -1 && block < c.depth else {
            throw DownstreamError("feature block \(block) is outside −1 (final output) … \(c.depth - 1) (last block)")
        }
        let labels = try labelsOf(data)
        var values = [Float](repeating: 0, count: data.count * d)
        let images = Tensor(shape: [0])
        var rng = RNG(seed: 0)   // unused: no drop path outside training
        var start = 0
        while start < data.count {
            let bs = Swift.min(batchSize, data.count - start)
            makeBatch(data, indices: Array(start..<(start + bs)), size: c.imgSize, outChannels: c.inChans, augment: nil,
                      normalization: normalization, rng: &rng, into: images)
            let tokens = encoder.embedPatches(images, batch: bs)
            let out = encoder.encode(tokens.data, batch: bs, training: false, rng: &rng)
            let src = block < 0 ? UnsafePointer(out.data) : UnsafePointer(encoder.blocks[block].output.data)
            values.withUnsafeMutableBufferPointer { v in
                let dst = v.baseAddress! + start * d
                switch pooling {
                case .cls: for b in 0..<bs { (dst + b * d).update(from: src + b * n * d, count: d) }
                case .avg: ViTClassifier.meanPool(src, batch: bs, tokens: n, dim: d, into: dst)
                }
            }
            start += bs
            progress?(start)
        }
        return FeatureSet(dim: d, values: values, labels: labels)
    }

    /// The normalized pixels as features (a linear model on raw pixels), [count, C·H·W].
    public static func pixels(data: ImageDataset, normalization: Normalization) throws -> FeatureSet {
        let labels = try labelsOf(data)
        let dim = data.imageSize
        let t = Tensor(shape: [0])
        var rng = RNG(seed: 0)
        makeBatch(data, indices: Array(0..<data.count), size: data.height, outChannels: data.channels, augment: nil,
                  normalization: normalization, rng: &rng, into: t)
        return FeatureSet(dim: dim, values: t.array, labels: labels)
    }

    static func labelsOf(_ data: ImageDataset) throws -> [Int] {
        guard let l = data.labels else { throw DownstreamError("\(data.source): the images have no labels; downstream evaluation needs labelled data") }
        return l.map(Int.init)
    }
}
