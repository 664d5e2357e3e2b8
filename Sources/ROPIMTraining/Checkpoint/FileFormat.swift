// How ropim names what it writes: the library version, and the "format" / "format_version" metadata of its
// safetensors files. Writers take their metadata from `RopimFormat`, `CheckpointHeader` reads it back.

/// This ropim's version: `ropim --version`, the run headers, a resumable checkpoint's state.json.
public let ropimVersion = "0.1.0"

/// The formats of ropim's safetensors files, as their "format" metadata names them.
public enum RopimFormat: String, Sendable {
    /// pretrain's checkpoint.safetensors and ckpt-*/model.safetensors: encoder.* and decoder.*, the full config.
    case pretrain = "ropim-pretrain"
    /// finetune's best.safetensors and checkpoint.safetensors: a classifier under timm names.
    case finetune = "ropim-finetune"
    /// ckpt-*/optimizer.safetensors: AdamW's moments (m.*, v.*).
    case adamw = "ropim-adamw"
    /// Features of images (`ropim embed`, linprobe's and k-NN's feature cache).
    case features = "ropim-features"

    /// The metadata keys naming a file's format and that format's version.
    public static let key = "format", versionKey = "format_version"
    /// The checkpoints' format version: written into pre-training and fine-tuning checkpoints, and the
    /// only one read.
    public static let version = "1"
    /// How every ropim format name starts (a file with another prefix is someone else's).
    public static let prefix = "ropim-"

    /// Whether files of this format carry `versionKey`.
    public var isVersioned: Bool { self == .pretrain || self == .finetune }

    /// A file's metadata: this format's name (and version), then `more`.
    public func metadata(_ more: [String: String] = [:]) -> [String: String] {
        var meta = more
        meta[RopimFormat.key] = rawValue
        if isVersioned { meta[RopimFormat.versionKey] = RopimFormat.version }
        return meta
    }
}
