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
    /// Normalized images [N, C, S, S] and their indices in `split`.
    public let images: Tensor
    public let indices: [Int]
    public let split: ImageSplit
    public let normalization: Normalization
    /// Nearest-neighbour enlargement (about 112 px per image, as `ropim visualize`).
    public let scale: Int
    let seed: UInt64
    let compute: ComputeContext

    /// `count` images (seeded choice) of the test split of `data`, or of the train split where there is no test
    /// split (an image folder without val/ or test/).
    public init(data: DataConfig, model: ViTConfig, count: Int = 8, seed: UInt64 = 0, compute: ComputeContext) throws {
        var chosen: (ImageDataset, ImageSplit)
        do { chosen = (try PictureImages.load(data, model: model, split: .test, compute: compute), .test) } catch {
            chosen = (try PictureImages.load(data, model: model, split: .train, compute: compute), .train)
        }
        indices = PictureImages.choose(chosen.0, count: count, seed: seed)
        images = try PictureImages.batch(chosen.0, indices: indices, model: model, normalization: data.normalization, compute: compute)
        split = chosen.1
        normalization = data.normalization
        scale = Swift.max(1, Int((112.0 / Double(model.imgSize)).rounded()))
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
