// `ropim visualize`: reconstructions of a pre-training checkpoint as one PNG grid, or (--attention) the attention
// maps of any encoder.

import ArgumentParser
import Foundation
import ROPIMKernels
import ROPIMData
import ROPIMTraining
import ROPIMVisualize

extension ImageSplit: ExpressibleByArgument {}

struct Visualize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw what a pre-training checkpoint reconstructs (or, with --attention, where an encoder attends), one row per image.",
        discussion: """
        Columns: the original; the corrupted input in pixel space (ROPIM: the same Π applied to the normalized \
        pixel patches along the token axis; masking: masked patches grey); the decoder output; the output with \
        the kept part pasted back (ROPIM: Π·x + Π⊥·ŷ; masking: visible patches from the original); and \
        |Π⊥(x − ŷ)|, the error where the loss looks, as a heat map (normalized units; the scale is printed \
        under it).

        Images are un-normalized with the checkpoint's data.normalization, clamped to [0, 1], and enlarged \
        (nearest neighbour) so a 28 px image is 112 px.

        With --attention, from any checkpoint (a run, a fine-tuned classifier, an export or an imported timm \
        model directory): the image, the last block's attention from the class token to each patch per head and \
        averaged over heads, and attention rollout (Abnar & Zuidema 2020: per block the head mean plus the \
        identity, rows renormalized, multiplied through the blocks), each over the image (nearest upscaling: one \
        block per patch; each map scaled to its own maximum). Relative position bias is included as the forward \
        adds it.

        Examples:
          ropim visualize --checkpoint runs/fmnist-rop-20250101-120000 --count 8
          ropim visualize --checkpoint run/checkpoint.safetensors --split train --seed 3 --output grid.png
          ropim visualize --attention --checkpoint exported/ --count 4 --output attention.png
        """)

    @Option(help: ArgumentHelp("The pre-training checkpoint (with its decoder). " + CheckpointArgument.accepted))
    var checkpoint: CheckpointArgument
    @OptionGroup(title: "Data (default: the checkpoint's)") var data: DataOptions
    @Option(help: "Which split to draw images from: train or test (synthetic data has one set).") var split = ImageSplit.test
    @Option(help: "Images (rows), 1...\(Visualize.maxCount): each row costs a few MB while the picture is drawn.") var count = 8
    @Option(help: "Seed for the choice of images and the corruption drawn.") var seed = 0
    @Option(help: "Pixel enlargement factor (default: about 112 px per image).") var scale: Int?
    @Option(help: """
        Top of the error heat-map scale in normalized units (default: the largest error shown); fix it to \
        compare grids.
        """)
    var errorMax: Double?
    @Flag(help: "Draw attention maps (per head, mean, rollout) instead of reconstructions; any encoder checkpoint.") var attention = false
    @Option(help: "Output PNG (default: reconstructions.png, or attention.png, next to the checkpoint).") var output: String?
    @OptionGroup var threadFlags: ThreadOptions

    func validate() throws {
        if !(1...Visualize.maxCount).contains(count) {
            throw ValidationError("--count must be in 1...\(Visualize.maxCount), got \(count) (about 3.5 MB per row while drawing; for more images, run again with another --seed)")
        }
        if let errorMax, !(errorMax > 0 && errorMax.isFinite) { throw ValidationError("--error-max must be a positive number, got \(errorMax)") }
        if attention && errorMax != nil { throw ValidationError("--error-max scales the reconstruction error map; attention maps are each scaled to their own maximum") }
        if let scale, scale < 1 || scale > 64 { throw ValidationError("--scale must be between 1 and 64, got \(scale)") }
    }

    /// The checkpoint and the data config its pictures use (the checkpoint's, then --data/--dataset).
    func resolve() throws -> (PretrainCheckpoint, DataConfig) {
        let ckpt = try PretrainCheckpoint(path: checkpoint.path)
        guard ckpt.hasDecoder else {
            throw ValidationError("\(ckpt.path) holds an encoder only (an export, import or fine-tuned classifier); reconstructions need a pre-training checkpoint with its decoder: pass the pre-training run directory, a ckpt-*/ directory or its checkpoint.safetensors")
        }
        var d = ckpt.config.data
        data.apply(path: &d.path, kind: &d.dataset)
        return (ckpt, d)
    }

    func run() throws {
        if attention { return try drawAttention() }
        let (ckpt, d) = try resolve()
        let compute = threadFlags.context()
        let path = ckpt.path
        var c = ckpt.config
        c.data = d
        let dataset = try PictureImages.load(c.data, model: c.model, split: split, compute: compute)
        let indices = PictureImages.choose(dataset, count: count, seed: UInt64(truncatingIfNeeded: seed))
        let images = try PictureImages.batch(dataset, indices: indices, model: c.model, normalization: c.data.normalization,
                                               compute: compute)
        var rng = RNG(seed: UInt64(truncatingIfNeeded: seed)).derived(stream: 4)
        let panels = Reconstructions.compute(model: ckpt.model, images: images, normalization: c.data.normalization, rng: &rng,
                                                compute: compute)
        let s = scale ?? max(1, Int((112.0 / Double(c.model.imgSize)).rounded()))
        let method = c.method.corruption == .rop ? "ROPIM K'=\(c.method.sketchSize)" : c.method.corruption.rawValue
        let title = "\((path as NSString).deletingLastPathComponent.isEmpty ? path : ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent) step \(ckpt.step), \(method), \(split.rawValue) images"
        let grid = Reconstructions.grid(panels, scale: s, errorMax: errorMax.map { Float($0) }, title: title)
        let out = output ?? (((path as NSString).deletingLastPathComponent.isEmpty ? "." : (path as NSString).deletingLastPathComponent) + "/reconstructions.png")
        try PNG.write(grid, to: out)
        let mean = panels.meanError.reduce(0, +) / Double(panels.meanError.count)
        print("\(dataset.source) (\(split.rawValue)) images \(indices.map(String.init).joined(separator: ", "))")
        print(String(format: "mean |error| where the loss looks: %.4f (normalized units); per image: %@", mean,
                     panels.meanError.map { String(format: "%.3f", $0) }.joined(separator: " ")))
        print("wrote \(out) (\(grid.width)×\(grid.height))")
    }
}

extension Visualize {
    /// The encoder of any checkpoint and the data its pictures use (the checkpoint's, then --data/--dataset).
    func resolveEncoder() throws -> (EncoderFile, DataConfig) {
        let ef = try EncoderFile(checkpoint.path)
        var d = Embedding.dataConfig(for: ef, split: split.rawValue)
        data.apply(path: &d.path, kind: &d.dataset)
        return (ef, d)
    }

    /// --attention: the maps of `count` images chosen by --seed.
    func drawAttention() throws {
        let (ef, d) = try resolveEncoder()
        if let note = ef.note { print("checkpoint: \(note)") }
        let compute = threadFlags.context(), v = ef.config
        let dataset = try PictureImages.load(d, model: v, split: split, compute: compute)
        let indices = PictureImages.choose(dataset, count: count, seed: UInt64(truncatingIfNeeded: seed))
        let images = try PictureImages.batch(dataset, indices: indices, model: v, normalization: ef.normalization, compute: compute)
        let maps = AttentionMaps.compute(encoder: ef.encoder, images: images, compute: compute)
        var pixels = images.array
        Reconstructions.unnormalize(&pixels, channels: v.inChans, height: v.imgSize, width: v.imgSize, normalization: ef.normalization)
        let s = scale ?? max(1, Int((112.0 / Double(v.imgSize)).rounded()))
        let title = "attention of \(ef.path) (\(v.depth) blocks, \(v.numHeads) heads, rel. bias \(v.relPosBias.rawValue)), \(split.rawValue) images"
        let picture = maps.picture(pixels: pixels, channels: v.inChans, size: v.imgSize, scale: s, title: title)
        let dir = (ef.path as NSString).deletingLastPathComponent
        let out = output ?? ((dir.isEmpty ? "." : dir) + "/attention.png")
        try PNG.write(picture, to: out)
        print("\(dataset.source) (\(split.rawValue)) images \(indices.map(String.init).joined(separator: ", "))")
        let k = v.numPatches
        for b in 0..<maps.count {
            let rolled = Array(maps.rollout[(b * k)..<((b + 1) * k)])
            let top: Int = rolled.indices.max { rolled[$0] < rolled[$1] } ?? 0
            print(String(format: "image %d: rollout peaks at patch (row %d, column %d), %.3f of the class token's attention",
                         indices[b], top / v.gridSize, top % v.gridSize, Double(rolled[top])))
        }
        print("wrote \(out) (\(picture.width)×\(picture.height))")
    }

    /// The most rows one picture may have: bounds the memory a picture can take (≈ 3.5 MB per row at 28 px).
    static let maxCount = 512
}
