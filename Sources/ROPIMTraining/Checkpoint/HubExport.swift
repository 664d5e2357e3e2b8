// `ropim export` as a library call: any weights file this project reads (a pre-training run, a fine-tuned
// classifier, an imported or exported model) written as a timm / Hugging Face Hub model directory,
//   DIR/config.json        HubConfig: architecture, num_classes, model_args, pretrained_cfg
//   DIR/model.safetensors  the weights under timm's names for that class
// so that `timm.create_model("local-dir:DIR", pretrained=True)` builds and loads it with no other code
// (scripts/parity/compare_timm.py checks that it computes what `ropim embed` computes).

import Foundation
import ROPIMData
import ROPIMNN
import ROPIMFiles

/// The weights an export writes, gathered under timm BEiT names (no prefix): the encoder and, for a
/// classifier, `fc_norm` and `head`.
public struct ExportSource {
    /// The weights file read (after resolving a directory).
    public let path: String
    public let config: ViTConfig
    public let normalization: Normalization
    /// 0 for an encoder; the head's outputs for a classifier (mean pooling → fc_norm → head).
    public let classes: Int
    public let labelNames: [String]?
    public let step: Int
    public let params: ParameterStore

    /// Reads the weights of any path `CheckpointPath` resolves. A classifier (`ropim finetune`'s files, or a timm
    /// directory whose norm follows pooling) keeps its fc_norm and head; a pre-training checkpoint gives its encoder.
    public init(path given: String) throws {
        let (file, tensors, header) = try CheckpointHeader.read(given)
        path = file
        config = header.config.model
        normalization = header.config.data.normalization
        step = header.step
        let head = tensors.first { $0.name == "head.weight" }
        let classifier = header.layout == .classifier && head != nil
        classes = classifier ? head!.shape[0] : 0
        labelNames = header.hub?.labelNames ?? ExportSource.classNames(besides: path, count: classes)
        params = ParameterStore()
        _ = VisionTransformer(config: config, params: params, finalNorm: !classifier)
        if classifier {
            _ = LayerNorm(params, "fc_norm", dim: config.embedDim)
            _ = Linear(params, "head", inFeatures: config.embedDim, outFeatures: classes)
        }
        params.allocate()
        let report = try Interchange.importEncoder(path, into: params, prefix: "")
        guard report.missing.isEmpty else {
            throw CheckpointError(description: "\(path): lacks weights the export needs: \(report)")
        }
    }

    /// `classes.txt` of the run directory holding `file` (one name per line), when it names `count` classes.
    static func classNames(besides file: String, count: Int) -> [String]? {
        let dir = (file as NSString).deletingLastPathComponent
        guard count > 0, let text = try? String(contentsOfFile: (dir.isEmpty ? "." : dir) + "/classes.txt", encoding: .utf8) else { return nil }
        let names = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        return names.count == count ? names : nil
    }
}

extension Interchange {
    /// Writes `source` as a timm model directory `dir` (see the top of this file). The directory is written
    /// under a temporary name and renamed into place; an existing `dir` must be empty or an earlier export
    /// (only config.json and model.safetensors), which is replaced whole.
    @discardableResult
    public static func export(_ source: ExportSource, format: ExportFormat, to dir: String) throws -> HubConfig {
        // A new directory named like a weights file is a trap: `safetensors.load_file("enc.safetensors")` then fails
        // on a directory. The weights inside are always DIR/model.safetensors. (An existing path is judged below.)
        if dir.lowercased().hasSuffix(".safetensors") && !FileManager.default.fileExists(atPath: dir) {
            throw CheckpointError(description: "--output \(dir) looks like a file, but export writes a model directory (config.json + \(HubConfig.weightsName)); name a directory instead, e.g. --output \(String(dir.prefix { $0 != "." }))-export (its weights are then in \(HubConfig.weightsName) inside it)")
        }
        let tensors = try exportTensors(source.params, config: source.config, prefix: "", format: format)
        let hub = HubConfig.make(source.config, format: format, classes: source.classes, normalization: source.normalization,
                                 labelNames: source.labelNames)
        let out = dir.count > 1 && dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: out, isDirectory: &isDir) {
            let held = Set((try? fm.contentsOfDirectory(atPath: out)) ?? [])
            guard isDir.boolValue, held.isSubset(of: [HubConfig.fileName, HubConfig.weightsName]) else {
                throw CheckpointError(description: "\(out): exists and is not an earlier export (\(isDir.boolValue ? "it holds \(held.sorted().prefix(4).joined(separator: ", "))" : "a file")); "
                    + "`ropim export` writes a model directory (config.json + model.safetensors): pass a new or empty --output folder")
            }
        }
        let parent = (out as NSString).deletingLastPathComponent
        if !parent.isEmpty { try Folders.create(parent, what: "the folder of the export", fix: "pass another --output") }
        let tmp = out + ".tmp-\(getpid())", old = out + ".old-\(getpid())"
        try? fm.removeItem(atPath: tmp)
        try Folders.create(tmp, what: "the export's temporary folder", fix: "pass another --output")
        do {
            try SafeTensors.write(tensors, metadata: ["format": "pt", "producer": "ropim \(ropimVersion)", "source": source.path,
                                                      "step": String(source.step)], to: tmp + "/" + HubConfig.weightsName)
            try AtomicFile.write(try hub.json(), to: tmp + "/" + HubConfig.fileName)
            if fm.fileExists(atPath: out) {
                guard rename(out, old) == 0 else { throw CheckpointError(description: "\(out): cannot move the earlier export aside (errno \(errno))") }
            }
            guard rename(tmp, out) == 0 else { throw CheckpointError(description: "\(out): cannot rename the finished export into place (errno \(errno))") }
        } catch {
            try? fm.removeItem(atPath: tmp)
            if fm.fileExists(atPath: old) && !fm.fileExists(atPath: out) { _ = rename(old, out) }
            throw error
        }
        try? fm.removeItem(atPath: old)
        return hub
    }
}
