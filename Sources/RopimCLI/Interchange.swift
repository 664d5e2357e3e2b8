// `ropim export`, `ropim import`, `ropim inspect`, `ropim embed`: weights in and out, and what a file holds.

import ArgumentParser
import Foundation
import ROPIMCore
import ROPIMData
import ROPIMKernels
import ROPIMTraining
import ROPIMFiles
import ROPIMConfig

extension ExportFormat: ExpressibleByArgument {}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint as a timm / Hugging Face Hub model directory (config.json + model.safetensors).",
        discussion: """
        timm: timm's VisionTransformer (qkv.bias, ls1/ls2.gamma; needs a model without relative position bias). \
        beit: timm's Beit (q_bias/v_bias, gamma_1/gamma_2, relative position tables). config.json names a \
        registered timm model, the constructor arguments of this architecture (model_args) and the image \
        input size, mean and std (pretrained_cfg). A pre-training checkpoint exports its encoder (num_classes 0, \
        features = the final normalized tokens); a fine-tuned classifier exports with fc_norm and head \
        (global_pool avg).

        In Python:  model = timm.create_model("local-dir:OUT", pretrained=True)
        """)
    @Argument(help: ArgumentHelp(CheckpointArgument.accepted)) var checkpoint: CheckpointArgument
    @Option(help: "timm | beit.") var format: ExportFormat = .beit
    @Option(help: "Output model directory (created; an earlier export there is replaced).") var output: String

    func run() throws {
        let source = try ExportSource(path: checkpoint.path)
        let hub = try Interchange.export(source, format: format, to: output)
        print("wrote \(output)/{\(HubConfig.fileName), \(HubConfig.weightsName)}: timm \(hub.architecture), \(hub.numClasses) classes, from \(source.path) (step \(source.step))")
        print("in Python: timm.create_model(\"local-dir:\(output)\", pretrained=True)")
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn encoder weights from timm (BEiT or ViT), MAE or the SimMIM/ROPIM layout into a ropim checkpoint.",
        discussion: """
        Reads a model directory (timm / Hugging Face Hub layout: config.json + model.safetensors, as `ropim \
        export` writes) or a .safetensors file (F32, F16, BF16 or F64). The architecture comes from config.json \
        or, for a bare file, from --preset/--config/--set. Wrapper prefixes (module., backbone., encoder.) are \
        stripped. Missing and unexpected keys are listed; missing encoder keys \
        are an error. The decoder is freshly initialized (seeded by --seed). The result is a run directory \
        whose checkpoint.safetensors works with embed, export, inspect and finetune/linprobe/knn --pretrained.
        """)
    @Argument(help: "A model directory (config.json + model.safetensors) or a .safetensors file of encoder weights.") var file: String
    @OptionGroup(title: "Architecture of a file without config.json") var source: PresetOptions
    @Option(help: "Run directory for the new checkpoint.") var output: String
    @Option(help: "Seed of the fresh decoder (and of any missing encoder weights).") var seed: Int?
    @Flag(help: "Accept missing encoder keys (they keep their fresh initialization).") var allowMissing = false

    /// preset → --config → --set → --seed and --output, with the file's own architecture where it names one.
    func resolve() throws -> PretrainConfig {
        var c = try source.resolve()
        override(&c.run.seed, with: seed)
        c.run.output = output
        return try EncoderImport.config(for: file, base: c)
    }

    func run() throws {
        let c = try resolve()
        let report = try EncoderImport.run(file: file, config: c, output: output, allowMissing: allowMissing)
        print(report)
        print("wrote \(output)/checkpoint.safetensors")
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what a checkpoint, export or run directory holds.")
    @Argument(help: ArgumentHelp(CheckpointArgument.accepted)) var path: CheckpointArgument
    @Flag(help: "List every tensor with its shape.") var tensors = false

    func run() throws {
        for line in try CheckpointReport.lines(path.path, tensors: tensors) { print(line) }
    }
}

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save the encoder's final normalized tokens (cls first, then patches in raster order) for a set of images.",
        discussion: """
        The public way to compare this model with another implementation: no corruption, no augmentation; \
        images already at the model's input size go in unresized (scaled to [0, 1] and normalized with the \
        checkpoint's mean/std). The output holds `features` [N, tokens, D], `indices` [N] and, when labelled, \
        `labels` [N]; with --save-inputs also `images` [N, C, H, W] (normalized), e.g. for \
        scripts/parity/compare_timm.py.
        """)
    @Option(help: ArgumentHelp(CheckpointArgument.accepted)) var checkpoint: CheckpointArgument
    @OptionGroup(title: "Data (default: the checkpoint's)") var data: DataOptions
    @Option(help: "train | val | test.") var split = "test"
    // .unconditional: a negative count reaches the range check instead of reading as an option.
    @Option(parsing: .unconditional, help: "The first N images of the split (0 = all).") var count = 64
    @Option(help: "Images per forward pass.") var batchSize = 64
    @OptionGroup var threadFlags: ThreadOptions
    @Flag(help: "Also store the normalized input images.") var saveInputs = false
    @Option(help: "Output .safetensors file.") var output: String

    var settings: EmbedSettings {
        var s = EmbedSettings()
        s.split = split; s.count = count; s.batchSize = batchSize; s.saveInputs = saveInputs
        return s
    }

    func validate() throws {
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
    }

    /// The encoder and the data it embeds: the checkpoint's, then --data/--dataset.
    func resolve() throws -> (EncoderFile, DataConfig) {
        let ef = try EncoderFile(checkpoint.path)
        var d = Embedding.dataConfig(for: ef, split: split)
        data.apply(path: &d.path, kind: &d.dataset)
        return (ef, d)
    }

    func run() throws {
        let (ef, d) = try resolve()
        if let note = ef.note { print("checkpoint: \(note)") }
        let compute = threadFlags.context()
        let images = try Embedding.images(d, encoder: ef, compute: compute)
        let tensors = try Embedding.tensors(ef, images: images, settings: settings, compute: compute)
        try Embedding.write(tensors, encoder: ef, split: split, to: output)
        let shape = tensors[0].shape
        print("wrote \(output): features \(shape) from \(ef.path) (\(images.source), split \(split))")
    }
}
