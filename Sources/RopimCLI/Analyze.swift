// `ropim analyze corruption`: how ROPIM, SimMIM masking and MAE corrupt tokens, as CSV and a histogram.

import ArgumentParser
import Foundation
import ROPIMCore
import ROPIMKernels
import ROPIMTraining
import ROPIMVisualize
import ROPIMFiles
import ROPIMData
import ROPIMConfig

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Statistics of the method and of encoders: see 'ropim analyze corruption --help' and 'ropim analyze embedding --help'.",
        subcommands: [AnalyzeCorruption.self, AnalyzeEmbedding.self])
}

struct AnalyzeCorruption: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corruption",
        abstract: "Per-token kept energy and pattern counts of ROPIM vs SimMIM masking vs MAE at the same ratio (paper Fig. 7a).",
        discussion: """
        For N images of the dataset, draws one count sketch, one SimMIM mask and one MAE masking per image and records, per \
        token, the fraction of its energy the corruption keeps, ‖(Op·X)_i‖² / ‖X_i‖², with X the normalized \
        pixel patches [K, p·p·C] (the decoder's target; the patch embedding is linear in them). Masking uses \
        the same nominal ratio: ρ = K'/K kept ⇒ round((1 − ρ)·G²) of the G² mask patches hidden, and MAE's \
        encoder sees K' of the K tokens. Masking and MAE leave every token either untouched (1) or gone (0); ROPIM \
        keeps part of nearly every token.

        Also counts corruption patterns: analytically (log10) for each sampler, and the distinct ones seen in \
        the N draws.

        Writes to --output DIR: kept_energy.csv (histogram), tokens.csv (every token), patterns.csv, \
        summary.txt, kept_energy.png and kept_energy.svg.

        Settings resolve as in pretrain: --preset → --config → --set → flags.

        Examples:
          ropim analyze corruption --count 1000 --output /tmp/corruption
          ropim analyze corruption --sketch-size 1 --output /tmp/rho1
          ropim analyze corruption --preset cifar --dataset synthetic --output /tmp/cifar
        """)

    @OptionGroup(title: "Config") var source: PresetOptions
    @OptionGroup(title: "Data") var data: DataOptions
    @OptionGroup(title: "Method") var sketch: SketchOptions
    @Option(help: "Seed for the choice of images and the corruptions.") var seed = 0
    @Option(help: "Images to analyse (one sketch and one mask each).") var count = 1000
    @Option(help: "Histogram bin width, in [0.0001, 1].") var binWidth = 0.05
    @Option(help: "Output directory.") var output = "corruption-analysis"
    @OptionGroup var threadFlags: ThreadOptions

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1, got \(count)") }
        // The histogram spans kept fractions 0…2: 20,000 bins at most.
        if !(binWidth >= 1e-4 && binWidth <= 1) { throw ValidationError("--bin-width must be in [0.0001, 1], got \(binWidth)") }
    }

    /// preset → --config → --set → flags, validated; the corruption is always ROPIM (compared with masking and MAE).
    func resolve() throws -> PretrainConfig {
        var c = try source.resolve()
        data.apply(path: &c.data.path, kind: &c.data.dataset)
        sketch.apply(to: &c.method)
        c.method.corruption = .rop   // the analysis compares rop with masking and MAE whatever the config trains
        try c.validate()
        return c
    }

    func run() throws {
        let c = try resolve()
        let compute = threadFlags.context()
        let ds = try c.loadDataset(compute: compute)
        let indices = PictureImages.choose(ds, count: count, seed: UInt64(truncatingIfNeeded: seed))
        let images = try PictureImages.batch(ds, indices: indices, model: c.model, normalization: c.data.normalization,
                                             compute: compute)
        let patches = PictureImages.patches(images, patchSize: c.model.patchSize, compute: compute)
        var rng = RNG(seed: UInt64(truncatingIfNeeded: seed)).derived(stream: 4)
        let a = try CorruptionAnalysis.run(patches: patches, images: indices.count, vit: c.model, method: c.method,
                                           binWidth: binWidth, rng: &rng)
        try Folders.create(output, what: "the output folder", fix: "pass another --output")
        let title = "token energy kept: ROPIM vs masking vs MAE, \(ds.source)"
        let figure = a.figure(title: title)
        let dir = output.hasSuffix("/") ? String(output.dropLast()) : output
        try AtomicFile.write(a.histogramCSV, to: dir + "/kept_energy.csv")
        try AtomicFile.write(a.tokensCSV, to: dir + "/tokens.csv")
        try AtomicFile.write(a.patternsCSV, to: dir + "/patterns.csv")
        try AtomicFile.write(a.summary.joined(separator: "\n") + "\n", to: dir + "/summary.txt")
        try AtomicFile.write(try figure.png(), to: dir + "/kept_energy.png")
        try AtomicFile.write(figure.svg(), to: dir + "/kept_energy.svg")
        for line in a.summary { print(line) }
        print("wrote \(dir)/{kept_energy.csv, tokens.csv, patterns.csv, summary.txt, kept_energy.png, kept_energy.svg}")
    }
}
