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
    /// `lastBlocks` > 1 (DINO's n_last_blocks; needs `block` −1) concatenates the pooled outputs of the last
    /// `lastBlocks` blocks, earliest first, each through the encoder's final norm: [count, lastBlocks·D].
    public static func extract(encoder: VisionTransformer, data: ImageDataset, normalization: Normalization,
                               block: Int = -1, lastBlocks: Int = 1, pooling: FeaturePooling = .avg, batchSize: Int = 256,
                               compute: ComputeContext, progress: ((Int) -> Void)? = nil) throws -> FeatureSet {
        let c = encoder.config, d = c.embedDim, n = c.numTokens
        guard block >= -1 && block < c.depth else {
            throw DownstreamError("feature block \(block) is outside −1 (final output) … \(c.depth - 1) (last block)")
        }
        guard lastBlocks >= 1 && lastBlocks <= c.depth && (lastBlocks == 1 || block == -1) else {
            throw DownstreamError("probe.last_blocks \(lastBlocks) must be 1 … \(c.depth) (the encoder's depth), and above 1 only with probe.block −1")
        }
        let labels = try labelsOf(data)
        let dim = d * lastBlocks
        var values = [Float](repeating: 0, count: data.count * dim)
        let images = Tensor(shape: [0]), normed = Tensor(shape: [0]), mean = Tensor(shape: [0]), rstd = Tensor(shape: [0])
        var start = 0
        while start < data.count {
            let bs = Swift.min(batchSize, data.count - start), rows = bs * n
            makeBatch(data, indices: Array(start..<(start + bs)), size: c.imgSize, outChannels: c.inChans,
                      normalization: normalization, into: images, compute: compute)
            let tokens = encoder.embedPatches(images, batch: bs, compute: compute)
            let out = encoder.encode(tokens.data, batch: bs, compute: compute)
            for part in 0..<lastBlocks {
                // The last part is `block` itself; the parts before it are the blocks before the last, each
                // through the final norm like the final output.
                var src: UnsafePointer<Float>
                if part == lastBlocks - 1 {
                    src = block < 0 ? UnsafePointer(out.data) : UnsafePointer(encoder.blocks[block].output.data)
                } else {
                    src = UnsafePointer(encoder.blocks[c.depth - lastBlocks + part].output.data)
                    if let norm = encoder.norm {
                        normed.resize([rows, d]); mean.resize([rows]); rstd.resize([rows])
                        norm.forward(encoder.params, x: src, rows: rows, y: normed.data, mean: mean.data, rstd: rstd.data,
                                     compute: compute)
                        src = UnsafePointer(normed.data)
                    }
                }
                values.withUnsafeMutableBufferPointer { v in
                    let dst = v.baseAddress! + start * dim + part * d
                    for b in 0..<bs {
                        let row = src + b * n * d
                        switch pooling {
                        case .cls: (dst + b * dim).update(from: row, count: d)
                        case .avg: ViTClassifier.meanPool(row, batch: 1, tokens: n, dim: d, into: dst + b * dim)
                        }
                    }
                }
            }
            start += bs
            progress?(start)
        }
        return FeatureSet(dim: dim, values: values, labels: labels)
    }

    /// The normalized pixels as features (a linear model on raw pixels), [count, C·H·W].
    public static func pixels(data: ImageDataset, normalization: Normalization, compute: ComputeContext) throws -> FeatureSet {
        let labels = try labelsOf(data)
        let dim = data.imageSize
        let t = Tensor(shape: [0])
        makeBatch(data, indices: Array(0..<data.count), size: data.height, outChannels: data.channels,
                  normalization: normalization, into: t, compute: compute)
        return FeatureSet(dim: dim, values: t.array, labels: labels)
    }

    static func labelsOf(_ data: ImageDataset) throws -> [Int] {
        guard let l = data.labels else { throw DownstreamError("\(data.source): the images have no labels; downstream evaluation needs labelled data") }
        return l.map(Int.init)
    }
}
