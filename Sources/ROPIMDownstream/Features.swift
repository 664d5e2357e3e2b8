// Frozen features for linear probing and k-NN: the encoder runs once over a dataset (no corruption,
// no augmentation, no drop path) and one vector per image is kept, from a chosen block, cls or averaged.

import Foundation
import ROPIMData
import ROPIMDistributed
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
    ///
    /// Data-parallel (`communicator` of N ranks): the batches of `batchSize` images one process runs are dealt
    /// round-robin (`BatchDeal`: batch b to rank b mod N); after each round the ranks all-gather their batches'
    /// features, so every rank returns the whole set in the single-process order, each batch computed as one
    /// process computes it. `progress` gets the images done over all ranks.
    public static func extract(encoder: VisionTransformer, data: ImageDataset, normalization: Normalization,
                               block: Int = -1, lastBlocks: Int = 1, pooling: FeaturePooling = .avg, batchSize: Int = 256,
                               compute: ComputeContext, communicator: any Communicator = SingleProcess(),
                               progress: ((Int) -> Void)? = nil) throws -> FeatureSet {
        let c = encoder.config, d = c.embedDim
        guard block >= -1 && block < c.depth else {
            throw DownstreamError("feature block \(block) is outside −1 (final output) … \(c.depth - 1) (last block)")
        }
        guard lastBlocks >= 1 && lastBlocks <= c.depth && (lastBlocks == 1 || block == -1) else {
            throw DownstreamError("probe.last_blocks \(lastBlocks) must be 1 … \(c.depth) (the encoder's depth), and above 1 only with probe.block −1")
        }
        let labels = try labelsOf(data)
        let dim = d * lastBlocks
        let deal = BatchDeal(count: data.count, batchSize: batchSize, communicator: communicator)
        let buffers = Buffers()
        var values: [Float] = []
        values.reserveCapacity(data.count * dim)
        for round in 0..<deal.rounds {
            let mine = deal.mine(round: round).map {
                encode(encoder, data: data, items: $0, normalization: normalization, block: block, lastBlocks: lastBlocks,
                       pooling: pooling, buffers: buffers, compute: compute)
            }
            values += communicator.allGather(mine ?? [])
            progress?(values.count / dim)
        }
        return FeatureSet(dim: dim, values: values, labels: labels)
    }

    /// Scratch tensors of `encode`, reused from batch to batch.
    final class Buffers {
        let images = Tensor(shape: [0]), normed = Tensor(shape: [0]), mean = Tensor(shape: [0]), rstd = Tensor(shape: [0])
    }

    /// The pooled features of images `items` of `data` (one batch), [items.count, lastBlocks·D].
    static func encode(_ encoder: VisionTransformer, data: ImageDataset, items: Range<Int>, normalization: Normalization,
                       block: Int, lastBlocks: Int, pooling: FeaturePooling, buffers t: Buffers, compute: ComputeContext) -> [Float] {
        let c = encoder.config, d = c.embedDim, n = c.numTokens, dim = d * lastBlocks
        let bs = items.count, rows = bs * n
        makeBatch(data, indices: Array(items), size: c.imgSize, outChannels: c.inChans,
                  normalization: normalization, into: t.images, compute: compute)
        let tokens = encoder.embedPatches(t.images, batch: bs, compute: compute)
        let out = encoder.encode(tokens.data, batch: bs, compute: compute)
        var values = [Float](repeating: 0, count: bs * dim)
        for part in 0..<lastBlocks {
            // The last part is `block` itself; the parts before it are the blocks before the last, each
            // through the final norm like the final output.
            var src: UnsafePointer<Float>
            if part == lastBlocks - 1 {
                src = block < 0 ? UnsafePointer(out.data) : UnsafePointer(encoder.blocks[block].output.data)
            } else {
                src = UnsafePointer(encoder.blocks[c.depth - lastBlocks + part].output.data)
                if let norm = encoder.norm {
                    t.normed.resize([rows, d]); t.mean.resize([rows]); t.rstd.resize([rows])
                    norm.forward(encoder.params, x: src, rows: rows, y: t.normed.data, mean: t.mean.data, rstd: t.rstd.data,
                                 compute: compute)
                    src = UnsafePointer(t.normed.data)
                }
            }
            values.withUnsafeMutableBufferPointer { v in
                let dst = v.baseAddress! + part * d
                for b in 0..<bs {
                    let row = src + b * n * d
                    switch pooling {
                    case .cls: (dst + b * dim).update(from: row, count: d)
                    case .avg: ViTClassifier.meanPool(row, batch: 1, tokens: n, dim: d, into: dst + b * dim)
                    }
                }
            }
        }
        return values
    }

    /// The normalized pixels as features (a linear model on raw pixels), [count, C·H·W]. Cheap, so every rank
    /// of a data-parallel run computes all of them (nothing is dealt or gathered).
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
