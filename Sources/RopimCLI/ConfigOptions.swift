// Options shared by every command that builds a pre-training config (pretrain, bench): preset →
// YAML file → --set overrides → flags.

import ArgumentParser
import ROPIMCore
import ROPIMData
import ROPIMTraining
import ROPIMConfig

extension ObjectiveName: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
    public static var allValueStrings: [String] { Objectives.names }
}
extension LossKind: ExpressibleByArgument {}
extension DatasetKind: ExpressibleByArgument {}
extension SketchSampler: ExpressibleByArgument {}

struct ConfigOptions: ParsableArguments {
    @Option(help: "Preset to start from: \(Preset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset = Preset.fmnist.rawValue
    @Option(help: "YAML config file overriding the preset; repeat to layer files (later ones win).")
    var config: [String] = []
    @Option(name: .customLong("set"), help: "Override one key, e.g. --set model.depth=4 (repeatable).")
    var overrides: [String] = []
    @Option(help: "Dataset folder: an image folder (<class>/<image>.jpg|png, or train/ and val/ inside), a CIFAR-10/100 binary folder or an IDX folder; the kind is detected unless --dataset says it. Default: /usr/share/datasets/fashion-mnist.")
    var data: String?
    @Option(help: "Dataset kind (auto detects it from the files in --data).")
    var dataset: DatasetKind?
    @Flag(help: "Skip unreadable images and empty class folders, and list them at the end, instead of stopping.")
    var skipBad = false
    @Option(help: "Run directory (default runs/<preset>-<corruption>-<time>).")
    var output: String?
    @Option(help: "Training epochs.") var epochs: Int?
    @Option(help: "Images per micro-batch.") var batchSize: Int?
    @Option(help: "Micro-batches per optimizer step (gradient accumulation).") var accumSteps: Int?
    @Option(help: "Base learning rate for a total batch of 512 (scaled by total_batch/512).") var lr: Double?
    @Option(help: "Threads for kernels and GEMM (0 = all cores).") var threads: Int?
    @Option(help: "Seed for every random stream of the run.") var seed: Int?
    @Option(help: "Use the first N images of a seeded shuffle.") var subset: Int?
    @Option(help: "Stop after N optimizer steps.") var maxSteps: Int?
    @Option(help: "Corruption of the patch tokens.") var corruption: ObjectiveName?
    @Option(help: "Reconstruction loss on normalized pixels.") var loss: LossKind?
    @Option(help: "Sketch size K' (ROPIM).") var sketchSize: Int?
    @Option(help: "Image side in pixels (model.img_size).") var imgSize: Int?
    @Option(help: "Patch side in pixels (model.patch_size).") var patchSize: Int?
    @Option(help: "Count-sketch sampler (balanced = reference).") var sampler: SketchSampler?

    func resolve() throws -> (PretrainConfig, Preset) {
        guard let base = Preset(rawValue: preset) else {
            throw ValidationError("unknown preset '\(preset)'; choose one of: \(Preset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var c = base.config
        for path in config { c = try ConfigLoader.load(PretrainConfig.self, path: path, defaults: c) }
        if !overrides.isEmpty { c = try ConfigLoader.apply(overrides, to: c, origin: "--set") }
        if let data { c.data.path = data; if dataset == nil { c.data.dataset = .auto } }
        if skipBad { c.data.skipBad = true }
        if let dataset { c.data.dataset = dataset }
        if let output { c.run.output = output }
        if let epochs { c.optim.epochs = epochs }
        if let batchSize { c.optim.batchSize = batchSize }
        if let accumSteps { c.optim.accumSteps = accumSteps }
        if let lr { c.optim.baseLR = lr }
        if let threads { c.run.threads = threads }
        if let seed { c.run.seed = seed }
        if let subset { c.data.subset = subset }
        if let maxSteps { c.optim.maxSteps = maxSteps }
        if let corruption { c.method.corruption = corruption }
        if let loss { c.method.loss = loss }
        if let sketchSize { c.method.sketchSize = sketchSize }
        if let sampler { c.method.sampler = sampler }
        if let imgSize { c.model.imgSize = imgSize }
        if let patchSize { c.model.patchSize = patchSize }
        try c.validate()
        return (c, base)
    }

}
