// The reconstruction picture of a run that is training: the same images (chosen once) drawn with the model as
// it is at each call, with the same corruption every time so pictures compare across epochs. `ropim pretrain`
// puts one in its TensorBoard event file every run.image_every epochs and writes the last to
// reconstructions.png (the columns as `ropim visualize` draws them).

import Foundation
import ROPIMCore
import ROPIMData
import ROPIMKernels
import ROPIMNN

public final class ReconstructionSnapshot {
    /// Normalized images [N, C, S, S] and their indices in the source.
    public let images: Tensor
    public let indices: [Int]
    public let normalization: Normalization
    /// Nearest-neighbour enlargement (about 112 px per image, as `ropim visualize`).
    public let scale: Int
    let seed: UInt64
    let compute: ComputeContext

    /// `count` images of `source` (the run's training images: already open, and only these are decoded), chosen
    /// by `seed` as `ropim visualize` chooses, each resized whole to the model's size and normalized.
    public init(source: any ImageSource, model: ViTConfig, normalization: Normalization, count: Int = 8, seed: UInt64 = 0,
                compute: ComputeContext) throws {
        guard source.count > 0 else { throw VisualizeError("\(source.source) holds no images to draw") }
        indices = PictureImages.choose(from: source.count, count: count, seed: seed)
        let size = model.imgSize, plane = model.inChans * size * size
        let transform = try SampleTransform(size: size, outChannels: model.inChans, normalization: normalization, mode: .resize)
        let batch = Tensor(shape: [indices.count, model.inChans, size, size])
        for (row, i) in indices.enumerated() {
            try source.withImage(i) { v in RNG.withoutDraws { transform.apply(v, rng: &$0, into: batch.data + row * plane) } }
        }
        images = batch
        self.normalization = normalization
        scale = Swift.max(1, Int((112.0 / Double(size)).rounded()))
        self.seed = seed
        self.compute = compute
    }

    /// The grid of what `model` reconstructs now (corruption drawn from `seed`'s stream 4, as `ropim visualize`).
    public func draw(_ model: any PretrainingObjective, title: String) -> Canvas {
        var rng = RNG(seed: seed).derived(stream: 4)
        let panels = Reconstructions.compute(model: model, images: images, normalization: normalization, rng: &rng, compute: compute)
        return Reconstructions.grid(panels, scale: scale, title: title)
    }
}
