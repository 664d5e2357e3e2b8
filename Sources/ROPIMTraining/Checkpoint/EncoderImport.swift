// `ropim import` as a library call: encoder weights from any supported layout (timm BEiT or ViT, the
// SimMIM/ROPIM `encoder.*` keys, a ropim checkpoint) wrapped in a new pre-training checkpoint whose
// decoder is freshly initialized, in a new run directory.

import Foundation
import ROPIMCore
import ROPIMKernels
import ROPIMFiles
import ROPIMConfig

public enum EncoderImport {
    /// The config the new checkpoint gets: `base` (preset/YAML/--set), with the architecture and image
    /// normalization of `file`'s config.json (timm's, beside it) or embedded config when it has one. A config
    /// that is there but invalid is an error: it is never silently replaced by `base`'s architecture.
    /// `given` is a file or any path `CheckpointPath` resolves (a model directory: its config.json and weights).
    public static func config(for given: String, base: PretrainConfig) throws -> PretrainConfig {
        var c = base
        guard let header = try header(given) else { return c }
        c.model = header.config.model
        c.data.normalization = header.config.data.normalization
        return c
    }

    /// The weights file `given` names and what it says about itself (nil for a bare file: a public timm, MAE or
    /// BEiT file without config.json, whose architecture comes from the command's settings).
    static func header(_ given: String) throws -> CheckpointHeader? {
        let file = try CheckpointPath.resolve(given).file
        let meta = try SafeTensors.read(file).metadata
        let described = meta[RopimFormat.key]?.hasPrefix(RopimFormat.prefix) == true || HubConfig.path(besides: file) != nil
        return described ? try CheckpointHeader(file: file, metadata: meta) : nil
    }

    /// Builds the model of `config`, initializes it with `config.run.seed`, copies `file`'s encoder weights
    /// into it and writes config.yaml and checkpoint.safetensors into the new run directory `output`.
    /// Missing encoder weights are an error unless `allowMissing`. Returns what the load matched.
    @discardableResult
    public static func run(file given: String, config c: PretrainConfig, output: String, allowMissing: Bool) throws -> LoadReport {
        try c.validate()
        let file = try CheckpointPath.resolve(given).file, header = try header(given)
        let model = try Objectives.make(vit: c.model, method: c.method)
        var rng = RNG(seed: UInt64(truncatingIfNeeded: c.run.seed))
        model.initialize(rng: &rng)
        let report = try Interchange.importEncoder(file, into: model.params, prefix: "encoder.")
        // Named as the file names them (timm BEiT layout), so a missing key reads as exactly that key.
        // A classifier's encoder lacks the final norm (it follows pooling): it keeps LayerNorm's identity.
        let missing = report.missing.filter { $0.hasPrefix("encoder.") && header?.mayLack($0, prefix: "encoder.") != true }.map { String($0.dropFirst("encoder.".count)) }
        if !missing.isEmpty && !allowMissing {
            throw CheckpointError(description: "\(file): lacks \(missing.count) encoder weight\(missing.count == 1 ? "" : "s") of the architecture "
                + "(model.depth \(c.model.depth), model.embed_dim \(c.model.embedDim)): \(missing.prefix(6).joined(separator: ", "))\(missing.count > 6 ? ", …" : "") "
                + "(loaded \(report.loaded.count) tensors, \(report.unexpected.count) unexpected). The architecture comes from the config.json beside the file, "
                + "else from --preset/--config/--set: make it match the file, or pass --allow-missing to keep those weights freshly initialized")
        }
        try RunDirectory.create(output)
        try AtomicFile.write(try ConfigLoader.yaml(c), to: output + "/config.yaml")
        try saveCheckpoint(model: model, config: c, step: 0, to: output + "/checkpoint.safetensors")
        return report
    }
}
