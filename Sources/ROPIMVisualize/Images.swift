// Picking the images a picture shows: a split of the config's dataset, a seeded choice of images, and
// the normalized batch and patch rows the model sees (no augmentation).

import Foundation
import ROPIMData
import ROPIMKernels
import ROPIMNN

public struct VisualizeError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public init(_ description: String) { self.description = description }
    public var errorDescription: String? { description }
}

public enum ImageSplit: String, CaseIterable, Sendable {
    case train, test
}

public enum PictureImages {
    /// The images of `split` for the config's dataset (any kind `loadData` reads; synthetic has one split),
    /// whole, in memory, without the training subset.
    public static func load(_ data: DataConfig, model: ViTConfig, split: ImageSplit, compute: ComputeContext) throws -> ImageDataset {
        var d = data
        d.split = split.rawValue
        d.subset = 0
        d.valFraction = 0
        return try loadDataset(d, imgSize: model.imgSize, channels: model.inChans, seed: 0, compute: compute)
    }

    /// `count` distinct images chosen by `seed` (all of them, in seeded order, when the set is smaller).
    public static func choose(_ d: ImageDataset, count: Int, seed: UInt64) -> [Int] { choose(from: d.count, count: count, seed: seed) }

    /// `count` distinct indices of `0..<total` chosen by `seed`, as above.
    public static func choose(from total: Int, count: Int, seed: UInt64) -> [Int] {
        var rng = RNG(seed: seed).derived(stream: 0x1A6E5)
        return Array(rng.permutation(total).prefix(count))
    }

    /// Normalized images [N, C, S, S] for the model (whole image resized to S, no flip).
    public static func batch(_ d: ImageDataset, indices: [Int], model: ViTConfig, normalization: Normalization,
                             compute: ComputeContext) throws -> Tensor {
        guard d.channels == model.inChans || d.channels == 1 else {
            throw VisualizeError("\(d.source) has \(d.channels)-channel images but the model expects \(model.inChans)")
        }
        let out = Tensor(shape: [0])
        makeBatch(d, indices: indices, size: model.imgSize, outChannels: model.inChans, normalization: normalization,
                  into: out, compute: compute)
        return out
    }

    /// Patch rows [N·K, C·p·p] of normalized images [N, C, S, S].
    public static func patches(_ images: Tensor, patchSize p: Int, compute: ComputeContext) -> [Float] {
        let (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        var out = [Float](repeating: 0, count: n * c * h * w)
        out.withUnsafeMutableBufferPointer { Patches.patchify(images.data, batch: n, channels: c, height: h, width: w, patch: p, into: $0.baseAddress!, compute: compute) }
        return out
    }
}
