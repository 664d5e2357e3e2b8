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
        abstract: "Write a checkpoint's encoder as a timm-loadable safetensors file plus a JSON sidecar.",
        discussion: """
        beit: timm.models.beit.Beit keys (relative position bias, LayerScale gamma_1/gamma_2, q_bias/v_bias). timm-vit: timm VisionTransformer keys (qkv.bias, ls1/ls2.gamma, pos_embed); needs a model without relative position bias. The sidecar (OUT.json) names the timm class, its constructor arguments and the image mean/std.

        In Python:  m = timm.models.beit.Beit(**sidecar['timm_kwargs']); m.load_state_dict(safetensors.torch.load_file(OUT), strict=False)
        """)
    @Argument(help: "A run directory or its checkpoint.safetensors.") var checkpoint: String
    @Option(help: "beit | timm-vit.") var format: ExportFormat = .beit
    @Option(help: "Output .safetensors path (the sidecar goes next to it as .json).") var output: String

    func run() throws {
        let path = FileManager.default.fileExists(atPath: checkpoint + "/checkpoint.safetensors") ? checkpoint + "/checkpoint.safetensors" : checkpoint
        let ckpt = try PretrainCheckpoint(path: path)
        let car = try Interchange.export(ckpt, source: path, format: format, to: output)
        print("wrote \(output) (\(car.timmClass), step \(car.step)) and \(Interchange.sidecarPath(output))")
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn encoder weights from timm (BEiT or ViT safetensors) or the SimMIM/ROPIM layout into a ropim checkpoint.",
        discussion: """
        The architecture comes from the file's sidecar (OUT.json written by `ropim export` or by hand) or, without one, from --preset/--config/--set. Missing and unexpected keys are listed; missing encoder keys are an error. The decoder is freshly initialized. The result is a run directory whose checkpoint.safetensors works with embed, export, inspect and finetune/linprobe/knn --pretrained.
        """)
    @Argument(help: "A .safetensors file of encoder weights.") var file: String
    @OptionGroup var options: ConfigOptions
    @Flag(help: "Accept missing encoder keys (they keep their fresh initialization).") var allowMissing = false

    func run() throws {
        var (c, _) = try options.resolve()
        if let ef = try? EncoderFile(file) { c.model = ef.config; c.data.normalization = ef.normalization }
        guard !c.run.output.isEmpty else { throw ValidationError("give --output DIR for the new checkpoint") }
        let model = try PretrainModel(vit: c.model, method: c.method)
        var rng = RNG(seed: UInt64(truncatingIfNeeded: c.run.seed))
        model.initialize(rng: &rng)
        let report = try Interchange.importEncoder(file, into: model.params, prefix: "encoder.")
        let missingEncoder = report.missing.filter { $0.hasPrefix("encoder.") }
        print(report)
        if !missingEncoder.isEmpty && !allowMissing {
            throw CheckpointError(description: "\(file): \(missingEncoder.count) encoder weights missing (\(missingEncoder.prefix(6).joined(separator: ", "))…); check the architecture (--print-config) or pass --allow-missing")
        }
        try RunDirectory.create(c.run.output)
        try AtomicFile.write(try ConfigLoader.yaml(c), to: c.run.output + "/config.yaml")
        try saveCheckpoint(model: model, config: c, step: 0, to: c.run.output + "/checkpoint.safetensors")
        print("wrote \(c.run.output)/checkpoint.safetensors")
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show what a checkpoint, export or run directory holds.")
    @Argument(help: "A run directory, a ckpt-*/ directory, or a .safetensors file.") var path: String
    @Flag(help: "List every tensor with its shape.") var tensors = false

    func run() throws {
        let fm = FileManager.default
        var file = path
        if fm.fileExists(atPath: path + "/state.json") {
            let s = try RunCheckpoint.state(at: path)
            print("resumable checkpoint: step \(s.step), epoch losses \(s.epochLosses.map { String(format: "%.4f", $0) }), data position epoch \(s.dataPosition.epoch) batch \(s.dataPosition.batch), \(s.threads) threads, ropim \(s.ropimVersion)")
            file = path + "/model.safetensors"
        } else if fm.fileExists(atPath: path + "/checkpoint.safetensors") {
            file = path + "/checkpoint.safetensors"
            let ckpts = RunCheckpoint.complete(in: path)
            print("run directory: final checkpoint, \(ckpts.count) resumable checkpoint(s)\(ckpts.last.map { " (newest \(URL(fileURLWithPath: $0).lastPathComponent))" } ?? "")")
            if let m = try? String(contentsOfFile: path + "/metrics.jsonl", encoding: .utf8), let last = m.split(separator: "\n").last {
                print("last metrics: \(last)")
            }
        } else if fm.fileExists(atPath: path), !path.hasSuffix(".safetensors"), RunCheckpoint.complete(in: path).last != nil {
            file = RunCheckpoint.complete(in: path).last! + "/model.safetensors"
            print("unfinished run directory; newest resumable checkpoint \(file)")
        }
        let (ts, meta) = try SafeTensors.read(file)
        let count = ts.reduce(0) { $0 + $1.values.count }
        print("\(file): \(ts.count) tensors, \(count) values (\(String(format: "%.2f", Double(count) / 1e6)) M); format \(meta["format"] ?? "unknown")\(meta["step"].map { ", step \($0)" } ?? "")")
        if let yaml = meta["config"], let c = try? ConfigLoader.load(PretrainConfig.self, yaml: yaml, file: file, defaults: PretrainConfig()) {
            let v = c.model
            print("model: \(v.imgSize)px/p\(v.patchSize) C=\(v.inChans), ViT \(v.embedDim)×\(v.depth), \(v.numHeads) heads, pos \(v.posEmbed.rawValue), rel \(v.relPosBias.rawValue), layer scale \(v.layerScaleInit)")
            print("method: \(c.method.corruption.rawValue), K'=\(c.method.sketchSize) (\(c.method.sampler.rawValue)), loss \(c.method.loss.rawValue); data \(c.data.dataset.rawValue) \(c.data.path)")
        }
        if let car = meta["sidecar"] { print("sidecar: \(car.replacingOccurrences(of: "\n", with: " "))") }
        if tensors { for t in ts { print("  \(t.name) \(t.shape)") } }
    }
}

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save the encoder's final normalized tokens (cls first, then patches in raster order) for a set of images.",
        discussion: """
        The public way to compare this model with another implementation: no corruption, no augmentation; images already at the model's input size go in unresized (scaled to [0, 1] and normalized with the checkpoint's mean/std). The output holds `features` [N, tokens, D], `indices` [N] and, when labelled, `labels` [N]; with --save-inputs also `images` [N, C, H, W] (normalized), e.g. for scripts/parity/compare_timm.py.
        """)
    @Option(help: "A run directory, its checkpoint.safetensors, or an exported file with its sidecar.") var checkpoint: String
    @Option(help: "Dataset folder (default: the checkpoint's own data path).") var data: String?
    @Option(help: "Dataset kind.") var dataset: DatasetKind?
    @Option(help: "train | val | test.") var split = "test"
    @Option(help: "The first N images of the split (0 = all).") var count = 64
    @Option(help: "Images per forward pass.") var batchSize = 64
    @Option(help: "Threads (0 = all cores).") var threads = 0
    @Flag(help: "Also store the normalized input images.") var saveInputs = false
    @Option(help: "Output .safetensors file.") var output: String

    func run() throws {
        let compute = try resolveCompute(threads: threads)
        let ef = try EncoderFile(checkpoint)
        var c = ef.pretrainConfig ?? PretrainConfig()
        c.model = ef.config
        c.data.normalization = ef.normalization
        c.data.subset = 0; c.data.valFraction = 0; c.data.cache = ""; c.data.split = split
        if let data { c.data.path = data; c.data.dataset = dataset ?? .auto } else if let dataset { c.data.dataset = dataset }
        let images = try c.loadDataset(compute: compute)
        let n = count > 0 ? Swift.min(count, images.count) : images.count
        let v = ef.config, t = v.numTokens, d = v.embedDim
        var features = [Float](), inputs = [Float]()
        features.reserveCapacity(n * t * d)
        let batch = Tensor(shape: [0])
        var rng = RNG(seed: 0)
        for start in stride(from: 0, to: n, by: batchSize) {
            let idx = Array(start..<Swift.min(n, start + batchSize))
            makeBatch(images, indices: idx, size: v.imgSize, outChannels: v.inChans, augment: nil,
                      normalization: c.data.normalization, rng: &rng, into: batch, compute: compute)
            let out = ef.features(batch, batch: idx.count, compute: compute)
            features += out.array
            if saveInputs { inputs += batch.array }
        }
        var tensors = [NamedTensor(name: "features", shape: [n, t, d], values: features),
                       NamedTensor(name: "indices", shape: [n], values: (0..<n).map(Float.init))]
        if let labels = images.labels { tensors.append(NamedTensor(name: "labels", shape: [n], values: labels.prefix(n).map(Float.init))) }
        if saveInputs { tensors.append(NamedTensor(name: "images", shape: [n, v.inChans, v.imgSize, v.imgSize], values: inputs)) }
        try SafeTensors.write(tensors, metadata: ["format": "ropim-features", "checkpoint": ef.path, "split": split], to: output)
        print("wrote \(output): features [\(n), \(t), \(d)] from \(ef.path) (\(images.source), split \(split))")
    }
}
