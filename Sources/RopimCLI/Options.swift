// Option groups shared by the commands. Each group has one rule, applied the same way by every command
// that includes it, and a command includes only the groups whose options do something there:
//
//   PresetOptions       --preset --config --set        pretrain, bench, import, analyze corruption
//   ConfigFileOptions   --config --set                 finetune, linprobe, knn (and inside PresetOptions)
//   DataOptions         --data --dataset               pretrain, finetune, linprobe, knn, visualize, analyze, embed
//   ThreadOptions       --threads                      bench, bench-data, visualize, analyze, embed (and in RunOptions)
//   RunOptions          --threads --seed --output      pretrain, finetune, linprobe, knn
//   OptimOptions        --epochs --batch-size --lr --max-steps    pretrain, finetune
//   ModelMethodOptions  --img-size --patch-size --corruption --loss (+ SketchOptions)   pretrain, bench
//   SketchOptions       --sketch-size --sampler        pretrain, bench, analyze corruption
//   CheckpointArgument  a checkpoint path, resolved by CheckpointPath (ROPIMTraining)
//
// Ranges are checked by the config structs' validate() after resolution, or here for options that are not
// config keys.

import ArgumentParser
import Foundation
import ROPIMConfig
import ROPIMCore
import ROPIMData
import ROPIMKernels
import ROPIMNN
import ROPIMOptim
import ROPIMTraining

extension ObjectiveName: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument) }
    public static var allValueStrings: [String] { Objectives.names }
}
extension LossKind: ExpressibleByArgument {}
extension DatasetKind: ExpressibleByArgument {}
extension SketchSampler: ExpressibleByArgument {}
extension Preset: ExpressibleByArgument {}

/// `key = flag` when the flag was given: how every flag lands on its config key.
func override<T>(_ key: inout T, with flag: T?) {
    if let flag { key = flag }
}

/// --config FILE… then --set key=value…, on top of a command's starting config.
struct ConfigFileOptions: ParsableArguments {
    @Option(help: "YAML config file listing only the keys it changes; repeat to layer files (later ones win).")
    var config: [String] = []
    @Option(name: .customLong("set"), help: "Override one config key after the files, e.g. --set optim.epochs=3 (repeatable).")
    var overrides: [String] = []

    /// `base`, then each file, then the overrides. Errors name the file, line and key.
    func apply<T: Codable>(to base: T) throws -> T {
        var c = base
        for path in config { c = try ConfigLoader.load(T.self, path: path, defaults: c) }
        return try ConfigLoader.apply(overrides, to: c, origin: "--set")
    }
}

/// --preset, then --config and --set: the start of every pre-training config.
struct PresetOptions: ParsableArguments {
    @Option(help: "Preset to start from (see 'ropim presets').") var preset = Preset.fmnist
    @OptionGroup var files: ConfigFileOptions

    /// The preset's config with the files and overrides applied (not yet validated: flags come next).
    func resolve() throws -> PretrainConfig { try files.apply(to: preset.config) }
}

/// --data DIR and --dataset KIND. One rule everywhere: --data alone means "detect the kind from DIR's
/// files" (IDX, CIFAR-10/100, else an image folder), whatever the config or a checkpoint said before;
/// --dataset names the kind (and alone keeps the configured folder).
struct DataOptions: ParsableArguments {
    @Option(help: """
        Dataset folder: an image folder (<class>/<image>.jpg|png, or train/ and val/ inside), a CIFAR-10/100 \
        binary folder or an IDX folder; the kind is detected unless --dataset names it. Default: the config's \
        data.path (a checkpoint's own, where the command reads one).
        """)
    var data: String?
    @Option(help: "Dataset kind (default: detected from --data's files; without --data, the config's).")
    var dataset: DatasetKind?

    func apply(path: inout String, kind: inout DatasetKind) {
        if let data { path = data; kind = .auto }
        if let dataset { kind = dataset }
    }
}

/// --threads N for the kernels and GEMM.
struct ThreadOptions: ParsableArguments {
    @Option(help: "Threads for kernels and GEMM (0 = all cores).") var threads: Int?

    /// The range check of run.threads (`ComputeContext.problem`), naming --threads.
    func validate() throws {
        if let threads, let m = ComputeContext.problem(threads: threads, key: "--threads") { throw ValidationError(m) }
    }

    /// The one place the CLI turns a validated thread setting (--threads or run.threads; 0 = all cores)
    /// into the compute context that the command passes to every library call.
    static func context(_ configured: Int) -> ComputeContext { ComputeContext.resolve(threads: configured) }

    /// --threads, else `configured`, as the command's compute context.
    func context(configured: Int = 0) -> ComputeContext { Self.context(threads ?? configured) }
}

/// --threads, --seed and --output of a command that writes a run directory; they set run.threads,
/// run.seed and run.output after the config files.
struct RunOptions: ParsableArguments {
    @OptionGroup var threadFlags: ThreadOptions
    @Option(help: "Seed for every random stream of the run (run.seed).") var seed: Int?
    @Option(help: "Run directory (run.output; default runs/<name>-<time>).") var output: String?

    func apply(to run: inout RunConfig) {
        override(&run.threads, with: threadFlags.threads)
        override(&run.seed, with: seed)
        override(&run.output, with: output)
    }
}

/// The optimizer flags of pre-training and fine-tuning (optim.*).
struct OptimOptions: ParsableArguments {
    @Option(help: "Training epochs (optim.epochs).") var epochs: Int?
    @Option(help: "Images per (micro-)batch (optim.batch_size).") var batchSize: Int?
    @Option(help: "Base learning rate for 512 images per step, scaled by images per step / 512 (optim.base_lr).") var lr: Double?
    @Option(help: "Stop after N optimizer steps of this invocation (optim.max_steps; 0 = all epochs; a resumed run counts from where it resumed).") var maxSteps: Int?

    func apply(to o: inout OptimConfig) {
        override(&o.epochs, with: epochs)
        override(&o.batchSize, with: batchSize)
        override(&o.baseLR, with: lr)
        override(&o.maxSteps, with: maxSteps)
    }
}

/// --sketch-size and --sampler (method.sketch_size, method.sampler).
struct SketchOptions: ParsableArguments {
    @Option(help: "Sketch size K' (method.sketch_size).") var sketchSize: Int?
    @Option(help: "Count-sketch sampler (method.sampler; balanced = reference).") var sampler: SketchSampler?

    func apply(to m: inout MethodConfig) {
        override(&m.sketchSize, with: sketchSize)
        override(&m.sampler, with: sampler)
    }
}

/// The shape of one pre-training step: image and patch size, corruption, loss and sketch.
struct ModelMethodOptions: ParsableArguments {
    @Option(help: "Image side in pixels (model.img_size).") var imgSize: Int?
    @Option(help: "Patch side in pixels (model.patch_size).") var patchSize: Int?
    @Option(help: "Pre-training objective (method.corruption). mae also sets model.rel_pos_bias none and, unless one is set, model.pos_embed sincos (MAE's encoder).")
    var corruption: ObjectiveName?
    @Option(help: "Reconstruction loss on normalized pixels (method.loss).") var loss: LossKind?
    @OptionGroup var sketch: SketchOptions

    func apply(to c: inout PretrainConfig) {
        override(&c.model.imgSize, with: imgSize)
        override(&c.model.patchSize, with: patchSize)
        override(&c.method.corruption, with: corruption)
        if corruption == .mae {   // MAE's encoder runs on the visible tokens: absolute positions, no relative tables
            c.model.relPosBias = .none
            if c.model.posEmbed == .none { c.model.posEmbed = .sincos }
        }
        override(&c.method.loss, with: loss)
        sketch.apply(to: &c.method)
    }
}

/// A checkpoint as the user names it. Which file that is, is the library's one rule (`CheckpointPath`).
struct CheckpointArgument: ExpressibleByArgument {
    let path: String
    init?(argument: String) { path = argument }
    init(_ path: String) { self.path = path }
    static var defaultCompletionKind: CompletionKind { .file() }

    /// Help text: what may be passed.
    static let accepted = "A run directory (its final checkpoint, else its newest ckpt-*/), a ckpt-*/ directory, "
        + "a model directory (config.json + model.safetensors: `ropim export`, timm), or a .safetensors file (checkpoint.safetensors, best.safetensors)."

    func resolved() throws -> CheckpointPath { try CheckpointPath.resolve(path) }
}
