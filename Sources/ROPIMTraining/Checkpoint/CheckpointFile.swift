// What a weights file says about itself, read from its safetensors metadata: the architecture, the data
// it was trained on and the layout of its tensors. Three kinds are read:
//   ropim-pretrain  (pretrain's checkpoint.safetensors, ckpt-*/model.safetensors): the full config
//   ropim-finetune  (finetune's best.safetensors and checkpoint.safetensors): a classifier with timm names
//   anything else   (an export, a timm model directory): the architecture from config.json beside it

import Foundation
import ROPIMData
import ROPIMNN
import ROPIMConfig
import ROPIMFiles

public struct CheckpointHeader {
    public enum Layout: Sendable {
        /// encoder.* and decoder.*: a pre-training model (`RopimFormat.pretrain`).
        case pretrain
        /// A classifier (`RopimFormat.finetune`, or a timm config whose norm follows pooling): the encoder under timm
        /// names without its final norm, fc_norm and head.
        case classifier
        /// Encoder weights only (timm BEiT/ViT names or encoder.*), described by timm's config.json beside them.
        case encoder
    }

    public let layout: Layout
    /// The pre-training config for `pretrain`; otherwise the model, the data's dataset, path and
    /// normalization where the file names them, and no corruption.
    public let config: PretrainConfig
    public let step: Int
    /// Something the user should know about how the file is used, or nil.
    public let note: String?
    /// The timm config.json beside the file, when that describes it.
    public private(set) var hub: HubConfig?

    /// The weights file `given` names (resolved by `CheckpointPath`), its tensors and its header.
    public static func read(_ given: String) throws -> (file: String, tensors: [NamedTensor], header: CheckpointHeader) {
        let file = try CheckpointPath.resolve(given).file
        let (tensors, meta) = try SafeTensors.read(file)
        return (file, tensors, try CheckpointHeader(file: file, metadata: meta))
    }

    /// Reads the header of `file` (a resolved path, see `CheckpointPath`) from its metadata.
    public init(file: String, metadata meta: [String: String]) throws {
        step = Int(meta["step"] ?? "") ?? 0
        let format = meta[RopimFormat.key]
        if let v = meta[RopimFormat.versionKey], v != RopimFormat.version, let format, format.hasPrefix(RopimFormat.prefix) {
            throw CheckpointError(description: "\(file): \(format) format version \(v), this ropim reads version \(RopimFormat.version); use the ropim that wrote it")
        }
        switch format.flatMap(RopimFormat.init(rawValue:)) {
        case .pretrain?:
            guard let yaml = meta["config"] else {
                throw CheckpointError(description: "\(file): a ropim-pretrain file without its embedded config; the file is damaged, pass another checkpoint of the run")
            }
            layout = .pretrain
            config = try ConfigLoader.load(PretrainConfig.self, yaml: yaml, file: file + " (embedded config)", defaults: PretrainConfig())
            note = nil
        case .finetune?:
            let h = try ConfigLoader.load(ClassifierConfigView.self, yaml: meta["config"] ?? "", file: file + " (embedded config)",
                                          defaults: ClassifierConfigView())
            var c = PretrainConfig()
            c.model = h.model
            c.model.dropPathRate = 0
            if let d = h.dataset { c.data.dataset = d }
            if let p = h.path { c.data.path = p }
            if let n = h.normalization { c.data.normalization = n }
            c.method.corruption = .none   // no sketch constraints: only the encoder matters here
            layout = .classifier
            config = c
            note = "\(file) is a fine-tuned classifier (ropim-finetune): its encoder is used, with a final LayerNorm of weight 1 and bias 0 in place of the classifier's pooled fc_norm"
        default:
            guard let place = HubConfig.path(besides: file) else {
                throw CheckpointError(description: "\(file): not a ropim checkpoint (format \(format ?? "none")) and no \(HubConfig.fileName) beside it describing the architecture; export it with `ropim export`, put timm's config.json beside it, or pass \(CheckpointPath.accepted)")
            }
            let hub = try HubConfig.read(place)
            let (model, pooledNorm) = try hub.encoder(name: place)
            var c = PretrainConfig()
            c.model = model
            c.data.normalization = try hub.normalization(channels: model.inChans, name: place)
            c.method.corruption = .none
            layout = pooledNorm ? .classifier : .encoder
            config = c
            self.hub = hub
            note = pooledNorm ? "\(file) applies its final norm after pooling (fc_norm, \(place)): its encoder is used, with a final LayerNorm of weight 1 and bias 0 in place of fc_norm" : nil
            try Self.checkFits(c.model, weights: file, describedBy: place)
            return
        }
        // A ropim file's embedded config: what loading builds from it is checked, and errors name the file.
        let place = file + " (embedded config)"
        do {
            try config.model.validate()
            if layout == .pretrain { try config.method.validate(for: config.model) }
        } catch { throw CheckpointError(description: "\(place): \(error)") }
        if let m = config.data.normalization.problem(channels: config.model.inChans) { throw CheckpointError(description: "\(place): \(m)") }
        try Self.checkFits(config.model, weights: file, describedBy: place)
    }

    /// Largest relative position index (entries, 4 bytes each) an encoder described by a file may build.
    static let maxIndexEntries = 1 << 28

    /// Building the encoder a file describes must allocate in proportion to the file: at most one parameter
    /// per two bytes of `weights` (F16 stores two bytes each; F32 files so may lack half their weights, as
    /// `import --allow-missing` allows) and a bounded position index. A description of a far larger model
    /// belongs to another file or is damaged; refusing it keeps a crafted file from exhausting memory.
    /// `model` has passed `validate()`.
    static func checkFits(_ model: ViTConfig, weights: String, describedBy place: String) throws {
        let bytes = (try? FileManager.default.attributesOfItem(atPath: weights))?[.size] as? Int ?? 0
        let (parameters, index) = model.encoderSize
        guard parameters <= bytes / 2 + (1 << 20), index <= maxIndexEntries else {
            throw CheckpointError(description: "\(place): describes an encoder of \(parameters) parameters\(index > maxIndexEntries ? " and \(index) relative position index entries" : "") "
                + "(depth \(model.depth), width \(model.embedDim), \(model.numTokens) tokens), far more than the \(bytes) bytes of \(weights) can hold; "
                + "the description belongs to another file or is damaged")
        }
    }

    /// Encoder parameters the file may lack without an error (under `prefix`).
    func mayLack(_ name: String, prefix: String) -> Bool {
        layout == .classifier && name.hasPrefix(prefix + "norm.")
    }
}

/// The parts of a fine-tuning run's config (ROPIMDownstream's FinetuneConfig) that describe its encoder and
/// data; every other key of that config is accepted as it is.
struct ClassifierConfigView: Codable {
    var model = ViTConfig()
    var dataset: DatasetKind?
    var path: String?
    var normalization: Normalization?

    enum Keys: String, CodingKey { case pretrained, model, data, optim, method, run }
    enum DataKeys: String, CodingKey { case dataset, path, normalization }

    init() {}

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        model = try c.decode(ViTConfig.self, forKey: .model)
        if c.contains(.data), (try? c.decodeNil(forKey: .data)) == false {
            let d = try c.nestedContainer(keyedBy: DataKeys.self, forKey: .data)
            dataset = try d.decodeIfPresent(DatasetKind.self, forKey: .dataset)
            path = try d.decodeIfPresent(String.self, forKey: .path)
            normalization = try d.decodeIfPresent(Normalization.self, forKey: .normalization)
        }
    }

    /// Only `model` is typed; null keys accept whatever the fine-tuning config holds there.
    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(model, forKey: .model)
        for k in [Keys.pretrained, .data, .optim, .method, .run] { try c.encodeNil(forKey: k) }
    }
}
