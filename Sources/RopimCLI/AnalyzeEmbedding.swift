// `ropim analyze embedding`: frozen features of one or more checkpoints on their first two principal components,
// side by side, coloured by label.

import ArgumentParser
import Foundation
import ROPIMDownstream
import ROPIMTraining
import ROPIMVisualize
import ROPIMFiles

struct AnalyzeEmbedding: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embedding",
        abstract: "PCA of frozen features, a scatter plot coloured by label; several checkpoints side by side.",
        discussion: """
        For N images of a split (chosen by --seed; the same images for every checkpoint), each encoder's final \
        output is pooled (--pooling avg: the mean of the patch tokens, after the final norm; cls: the class token) \
        and projected on its own first two principal components (PCA of the features' covariance, Jacobi \
        eigensolver). Each panel's title gives the between-class share of the 2-D variance \
        (Σ_c n_c‖μ_c − μ‖² / Σ_i ‖x_i − μ‖²: 0 when the classes are mixed, 1 when each class is a point); the \
        axes give the share of the total feature variance on PC1 and PC2. Class names come from the dataset \
        (Fashion-MNIST's for an IDX folder whose path says fashion-mnist).

        Writes to --output DIR: embedding.png, embedding.svg and embedding.csv (index, label, PC1 and PC2 per \
        checkpoint). The data is the first checkpoint's unless --data/--dataset say otherwise; every checkpoint \
        must take the same input size and channels.

        Examples:
          ropim analyze embedding --checkpoint runs/fmnist-rop-<time> --output embedding/
          ropim analyze embedding --checkpoint runs/rop --checkpoint runs/mask --name ROPIM --name SimMIM --count 2000
        """)

    @Option(name: .customLong("checkpoint"), help: ArgumentHelp("A checkpoint to project (repeat for side-by-side panels, at most \(maxPanels)). " + CheckpointArgument.accepted))
    var checkpoints: [CheckpointArgument] = []
    @Option(name: .customLong("name"), help: "Panel titles, one per --checkpoint, in order (default: the run directory's name).")
    var names: [String] = []
    @OptionGroup(title: "Data (default: the first checkpoint's)") var data: DataOptions
    @Option(help: "Which split the images come from: train or test.") var split = ImageSplit.test
    @Option(help: "Images, 2...\(maxCount) (all of the split when it has fewer).") var count = 2000
    @Option(help: "Seed for the choice of images.") var seed = 0
    @Option(help: "Pooling: avg (patch tokens) or cls.") var pooling = FeaturePooling.avg
    @Option(help: "Output directory.") var output = "embedding"
    @OptionGroup var threadFlags: ThreadOptions

    static let maxPanels = 4, maxCount = 20000

    func validate() throws {
        if !(1...Self.maxPanels).contains(checkpoints.count) {
            throw ValidationError("pass 1 to \(Self.maxPanels) --checkpoint options, got \(checkpoints.count)")
        }
        if !names.isEmpty && names.count != checkpoints.count {
            throw ValidationError("--name is given \(names.count) times for \(checkpoints.count) --checkpoint options; give one per checkpoint or none")
        }
        if !(2...Self.maxCount).contains(count) { throw ValidationError("--count must be in 2...\(Self.maxCount), got \(count)") }
    }

    /// A panel's title: --name, else the checkpoint's run directory (or file) name.
    func title(_ i: Int, path: String) -> String {
        if !names.isEmpty { return names[i] }
        let dir = (path as NSString).deletingLastPathComponent
        return ((dir.isEmpty ? path : dir) as NSString).lastPathComponent
    }

    func run() throws {
        let encoders = try checkpoints.map { try EncoderFile($0.path) }
        let first = encoders[0].config
        for e in encoders.dropFirst() where e.config.imgSize != first.imgSize || e.config.inChans != first.inChans {
            throw ValidationError("\(e.path) takes \(e.config.inChans)×\(e.config.imgSize)² images but \(encoders[0].path) takes \(first.inChans)×\(first.imgSize)²; project checkpoints of the same input")
        }
        var d = Embedding.dataConfig(for: encoders[0], split: split.rawValue)
        data.apply(path: &d.path, kind: &d.dataset)
        let compute = threadFlags.context()
        let dataset = try PictureImages.load(d, model: first, split: split, compute: compute)
        let indices = PictureImages.choose(dataset, count: count, seed: UInt64(truncatingIfNeeded: seed))
        let images = dataset.subset(indices)
        var projections: [EmbeddingProjection] = []
        for (i, e) in encoders.enumerated() {
            let f = try Features.extract(encoder: e.encoder, data: images, normalization: e.normalization, pooling: pooling, compute: compute)
            projections.append(EmbeddingProjection(name: title(i, path: e.path), features: f.values, rows: f.count, dim: f.dim, labels: f.labels))
        }
        let classes = (projections[0].labels.max() ?? 0) + 1
        let names = EmbeddingPicture.classNames(dataset: dataset.classNames, path: d.path, classes: classes)
        let figure = EmbeddingPicture.figure(projections, classNames: names, title: "PCA of frozen features, \(dataset.source) (\(split.rawValue))",
                                             notes: ["\(indices.count) images (seed \(seed)), \(pooling.rawValue)-pooled final features; each panel its own PCA"])
        try Folders.create(output, what: "the output folder", fix: "pass another --output")
        let dir = output.hasSuffix("/") ? String(output.dropLast()) : output
        try AtomicFile.write(try figure.png(), to: dir + "/embedding.png")
        try AtomicFile.write(figure.svg(), to: dir + "/embedding.svg")
        try AtomicFile.write(EmbeddingPicture.csv(projections, indices: indices), to: dir + "/embedding.csv")
        for (p, e) in zip(projections, encoders) {
            let (e1, e2) = p.explained
            print(String(format: "%@ (%@): PC1 %.1f %%, PC2 %.1f %% of the feature variance; between-class share of the 2-D variance %.3f",
                         p.name, e.path, 100 * e1, 100 * e2, p.betweenClassShare))
        }
        print("wrote \(dir)/{embedding.png, embedding.svg, embedding.csv}")
    }
}
