// `ropim analyze corruption`: how ROPIM and masking corrupt tokens, as CSV and a histogram.

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
        abstract: "Statistics of the method: see 'ropim analyze corruption --help'.",
        subcommands: [AnalyzeCorruption.self])
}

struct AnalyzeCorruption: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corruption",
        abstract: "Per-token kept energy and pattern counts of ROPIM vs masking at the same ratio (paper Fig. 7a).",
        discussion: """
        For N images of the dataset, draws one count sketch and one SimMIM mask per image and records, per token, the fraction of its energy the corruption keeps, ‖(Op·X)_i‖² / ‖X_i‖², with X the normalized pixel patches [K, p·p·C] (the decoder's target; the patch embedding is linear in them). Masking uses the same nominal ratio: ρ = K'/K kept ⇒ round((1 − ρ)·G²) of the G² mask patches hidden. Masking leaves every token either untouched (1) or gone (0); ROPIM keeps part of nearly every token.

        Also counts corruption patterns: analytically (log10) for each sampler, and the distinct ones seen in the N draws.

        Writes to --output DIR: kept_energy.csv (histogram), tokens.csv (every token), patterns.csv, summary.txt, kept_energy.png and kept_energy.svg.

        Settings resolve as in pretrain: --preset → --config → --set → flags.

        Examples:
          ropim analyze corruption --count 1000 --output /tmp/corruption
          ropim analyze corruption --sketch-size 1 --output /tmp/rho1
          ropim analyze corruption --preset cifar --dataset synthetic --output /tmp/cifar
        """)

    @Option(help: "Preset to start from: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset = Preset.fmnist.rawValue
    @Option(help: "YAML config file overriding the preset.") var config: String?
    @Option(name: .customLong("set"), help: "Override one key, e.g. --set method.sketch_size=1 (repeatable).") var overrides: [String] = []
    @Option(help: "Dataset folder (IDX files).") var data: String?
    @Option(help: "Dataset kind.") var dataset: DatasetKind?
    @Option(help: "Sketch size K'.") var sketchSize: Int?
    @Option(help: "Count-sketch sampler.") var sampler: SketchSampler?
    @Option(help: "Seed for the choice of images and the corruptions.") var seed = 0
    @Option(help: "Images to analyse (one sketch and one mask each).") var count = 1000
    @Option(help: "Histogram bin width.") var binWidth = 0.05
    @Option(help: "Output directory.") var output = "corruption-analysis"

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1, got \(count)") }
        if !(binWidth > 0 && binWidth <= 1) { throw ValidationError("--bin-width must be in (0, 1], got \(binWidth)") }
    }

    func run() throws {
        guard let base = Preset(rawValue: preset) else {
            throw ValidationError("unknown preset '\(preset)'; choose one of: \(Preset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var c = base.config
        if let config { c = try ConfigLoader.load(PretrainConfig.self, path: config, defaults: c) }
        if !overrides.isEmpty { c = try ConfigLoader.apply(overrides, to: c, origin: "--set") }
        if let data { c.data.path = data; if dataset == nil { c.data.dataset = .idx } }
        if let dataset { c.data.dataset = dataset }
        if let sketchSize { c.method.sketchSize = sketchSize }
        if let sampler { c.method.sampler = sampler }
        c.method.corruption = .rop   // the analysis compares rop with masking whatever the config trains
        try c.validate()
        let compute = try resolveCompute(threads: 0)   // all cores: analyze has no --threads

        let ds = try c.loadDataset(compute: compute)
        let indices = PictureImages.choose(ds, count: count, seed: UInt64(truncatingIfNeeded: seed))
        let images = try PictureImages.batch(ds, indices: indices, model: c.model, normalization: c.data.normalization,
                                             compute: compute)
        let patches = PictureImages.patches(images, patchSize: c.model.patchSize, compute: compute)
        var rng = RNG(seed: UInt64(truncatingIfNeeded: seed)).derived(stream: 4)
        let a = try CorruptionAnalysis.run(patches: patches, images: indices.count, vit: c.model, method: c.method,
                                           binWidth: binWidth, rng: &rng)
        do { try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true) } catch {
            throw ValidationError("cannot create output directory '\(output)': \(error.localizedDescription)")
        }
        let title = "token energy kept: ROPIM vs masking, \(ds.source)"
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
