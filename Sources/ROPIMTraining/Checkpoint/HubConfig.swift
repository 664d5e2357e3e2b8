// The `config.json` of a timm / Hugging Face Hub model directory (beside `model.safetensors`), as timm's
// `save_config_for_hf` writes it and `timm.create_model("local-dir:DIR", pretrained=True)` reads it:
//   architecture    a registered timm model name (its entrypoint picks the class: Beit or VisionTransformer)
//   num_classes     0 for an encoder, the head's width for a classifier
//   model_args      constructor arguments that override the entrypoint's defaults
//   pretrained_cfg  timm's PretrainedCfg fields: input_size [C, H, W], mean, std, interpolation, crop_pct, …
//   label_names     class names of a classifier (optional)
// `ropim export` writes one; `ropim import`, `embed`, `visualize` and every --pretrained read one. It is
// untrusted input: every value is checked by the owner of the setting it becomes (ViTConfig.validate,
// Normalization.problem) before anything is built, and errors name the file and the key as it spells it
// (`model_args.depth`).

import Foundation
import ROPIMData
import ROPIMNN

/// A JSON value of a config (model_args values, lists and objects included).
public indirect enum JSONValue: Codable, Equatable, Sendable {
    case int(Int), double(Double), bool(Bool), string(String), null, array([JSONValue]), object([String: JSONValue])
    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null } else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) } else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .string(let s): try c.encode(s)
        case .null: try c.encodeNil()
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// As the file shows it, for messages.
    public var shown: String {
        switch self {
        case .int(let i): return "\(i)"
        case .double(let d): return "\(d)"
        case .bool(let b): return "\(b)"
        case .string(let s): return "\"\(s)\""
        case .null: return "null"
        case .array(let a): return "[" + a.map(\.shown).joined(separator: ", ") + "]"
        case .object: return "an object"
        }
    }
}

/// The timm class an export is built as (`ropim export --format`).
public enum ExportFormat: String, CaseIterable, Codable, Sendable {
    /// timm.models.beit.Beit: q_bias/v_bias, gamma_1/gamma_2, relative position tables.
    case beit
    /// timm.models.vision_transformer.VisionTransformer: qkv.bias, ls1/ls2.gamma; no relative position bias.
    case timm
}

/// timm's PretrainedCfg fields that ropim writes and reads (other fields of a Hub config are kept out).
public struct PretrainedCfg: Codable, Equatable, Sendable {
    /// [C, H, W].
    public var inputSize: [Int]
    public var interpolation: String
    public var cropPct: Double
    public var cropMode: String
    /// Per channel, in [0, 1] pixel units (read as Double: one beyond Float's range is named by the check).
    public var mean: [Double]
    public var std: [Double]
    public var numClasses: Int
    public var firstConv: String?
    public var classifier: String?
    public var fixedInputSize: Bool

    enum CodingKeys: String, CodingKey {
        case inputSize = "input_size", interpolation, cropPct = "crop_pct", cropMode = "crop_mode", mean, std,
             numClasses = "num_classes", firstConv = "first_conv", classifier, fixedInputSize = "fixed_input_size"
    }

    public init(inputSize: [Int], mean: [Double], std: [Double], numClasses: Int) {
        self.inputSize = inputSize; self.mean = mean; self.std = std; self.numClasses = numClasses
        interpolation = "bicubic"; cropPct = 0.875; cropMode = "center"
        firstConv = "patch_embed.proj"; classifier = "head"; fixedInputSize = true
    }

    /// Absent keys take timm's PretrainedCfg defaults (ImageNet mean/std, 3×224×224, 1000 classes).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inputSize = try c.decodeIfPresent([Int].self, forKey: .inputSize) ?? [3, 224, 224]
        interpolation = try c.decodeIfPresent(String.self, forKey: .interpolation) ?? "bicubic"
        cropPct = try c.decodeIfPresent(Double.self, forKey: .cropPct) ?? 0.875
        cropMode = try c.decodeIfPresent(String.self, forKey: .cropMode) ?? "center"
        mean = try c.decodeIfPresent([Double].self, forKey: .mean) ?? [0.485, 0.456, 0.406]
        std = try c.decodeIfPresent([Double].self, forKey: .std) ?? [0.229, 0.224, 0.225]
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? 1000
        firstConv = try c.decodeIfPresent(String.self, forKey: .firstConv)
        classifier = try c.decodeIfPresent(String.self, forKey: .classifier)
        fixedInputSize = try c.decodeIfPresent(Bool.self, forKey: .fixedInputSize) ?? false
    }
}

public struct HubConfig: Codable, Equatable, Sendable {
    public var architecture: String
    public var numClasses: Int
    public var numFeatures: Int?
    public var globalPool: String?
    public var modelArgs: [String: JSONValue]
    public var pretrainedCfg: PretrainedCfg
    public var labelNames: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, numClasses = "num_classes", numFeatures = "num_features", globalPool = "global_pool",
             modelArgs = "model_args", pretrainedCfg = "pretrained_cfg", labelNames = "label_names"
    }

    public init(architecture: String, numClasses: Int, numFeatures: Int?, globalPool: String?, modelArgs: [String: JSONValue],
                pretrainedCfg: PretrainedCfg, labelNames: [String]?) {
        self.architecture = architecture; self.numClasses = numClasses; self.numFeatures = numFeatures
        self.globalPool = globalPool; self.modelArgs = modelArgs; self.pretrainedCfg = pretrainedCfg; self.labelNames = labelNames
    }

    /// timm's reader: num_classes at the top overrides pretrained_cfg's; model_args may be absent (the
    /// architecture name then says everything); label_names may sit at the top or in pretrained_cfg.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        architecture = try c.decode(String.self, forKey: .architecture)
        pretrainedCfg = try c.decodeIfPresent(PretrainedCfg.self, forKey: .pretrainedCfg)
            ?? PretrainedCfg(from: decoder)   // timm's legacy single-dict form: the cfg fields at the top
        numClasses = try c.decodeIfPresent(Int.self, forKey: .numClasses) ?? pretrainedCfg.numClasses
        numFeatures = try c.decodeIfPresent(Int.self, forKey: .numFeatures)
        globalPool = try c.decodeIfPresent(String.self, forKey: .globalPool)
        modelArgs = try c.decodeIfPresent([String: JSONValue].self, forKey: .modelArgs) ?? [:]
        labelNames = try c.decodeIfPresent([String].self, forKey: .labelNames)
    }

    /// The file name timm reads beside the weights.
    public static let fileName = "config.json"
    /// The weights file timm prefers in a model directory.
    public static let weightsName = "model.safetensors"
    /// Larger than any config.json: a JSON object of a few dozen settings and class names.
    static let maxBytes = 1 << 22

    /// `config.json` in the folder of `file`, or nil when there is none.
    public static func path(besides file: String) -> String? {
        let dir = (file as NSString).deletingLastPathComponent
        let path = (dir.isEmpty ? "." : dir) + "/" + fileName
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    /// Reads and decodes `path`; errors name it, the key and what was expected.
    public static func read(_ path: String) throws -> HubConfig {
        let data = try JSONFile.read(path, what: "a timm model config", limit: maxBytes)
        do { return try JSONDecoder().decode(HubConfig.self, from: data) } catch let e as DecodingError {
            throw CheckpointError(description: "\(path): not a valid timm model config: \(JSONFile.describe(e)); \(fix)")
        }
    }

    static let fix = "fix it to timm's form (architecture, num_classes, model_args, pretrained_cfg), as `ropim export` writes it"

    /// Encoded as timm writes it (indented, sorted keys).
    public func json() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try enc.encode(self)
    }
}

// MARK: reading an architecture

extension HubConfig {
    /// The timm class the architecture name's entrypoint builds.
    public var format: ExportFormat? {
        let a = architecture
        if a.hasPrefix("beit_") || a.hasPrefix("beitv2_") { return .beit }
        if a.hasPrefix("vit_") || a.hasPrefix("deit_") { return .timm }
        return nil
    }

    /// Sizes of timm's standard names (`vit_base_patch16_224`, `beit_large_patch16_224`, `deit_tiny_patch16_224`):
    /// width, depth, heads.
    static let sizes: [String: (embed: Int, depth: Int, heads: Int)] = [
        "tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12), "large": (1024, 24, 16), "huge": (1280, 32, 16)]

    /// The constructor arguments the architecture's entrypoint passes (timm's beit.py / vision_transformer.py)
    /// when the name is `<family>_<size>_patch<P>_<S>`; empty for any other name (model_args must then say all).
    var entrypointArgs: [String: JSONValue] {
        let parts = architecture.split(separator: "_").map(String.init)
        guard parts.count == 4, let size = Self.sizes[parts[1]], parts[2].hasPrefix("patch"), let p = Int(parts[2].dropFirst(5)),
              let img = Int(parts[3]) else { return [:] }
        var a: [String: JSONValue] = ["img_size": .int(img), "patch_size": .int(p), "embed_dim": .int(size.embed),
                                      "depth": .int(size.depth), "num_heads": .int(size.heads), "mlp_ratio": .double(4)]
        if format == .beit {
            a["use_abs_pos_emb"] = .bool(false); a["use_rel_pos_bias"] = .bool(true)
            a["init_values"] = .double(parts[0] == "beitv2" ? 1e-5 : 0.1)
        }
        return a
    }

    /// What timm builds from this config, as ropim's encoder: the architecture, and whether the final norm
    /// is applied after pooling (`fc_norm`, timm's `global_pool: avg` default) so the encoder ends at its last
    /// block. timm's rules: model_args over the entrypoint's arguments over the class defaults; in_chans (and
    /// img_size when fixed_input_size) from pretrained_cfg.input_size. A setting ropim's encoder cannot build
    /// (no class token, SwiGLU, …) is an error naming the key. `name` is how errors name the file.
    public func encoder(name: String) throws -> (config: ViTConfig, pooledNorm: Bool) {
        func fail(_ s: String) -> CheckpointError { CheckpointError(description: "\(name): \(s); \(Self.fix)") }
        guard let kind = format else {
            throw fail("architecture '\(architecture)' is not a timm BEiT or VisionTransformer name (beit_…, vit_…, deit_…); ropim builds those two classes")
        }
        var args = entrypointArgs
        for (k, v) in modelArgs { args[k] = v }
        let input = pretrainedCfg.inputSize
        guard input.count == 3 else { throw fail("pretrained_cfg.input_size is \(input), expected [channels, height, width]") }
        if args["in_chans"] == nil { args["in_chans"] = .int(input[0]) }
        if args["img_size"] == nil && pretrainedCfg.fixedInputSize && input[1] == input[2] { args["img_size"] = .int(input[1]) }
        func wrong(_ key: String, _ expected: String) -> CheckpointError {
            fail("model_args.\(key) is \(args[key]?.shown ?? "missing")\(args[key] == nil ? " (the architecture name '\(architecture)' does not give it)" : ""), expected \(expected)")
        }
        func int(_ key: String) throws -> Int {
            switch args[key] {
            case .int(let v)?: return v
            case .array(let a)? where a.count == 2 && a[0] == a[1]: if case .int(let v) = a[0] { return v }   // img_size [S, S]
            default: break
            }
            throw wrong(key, "an integer")
        }
        func number(_ key: String, absent: Double) throws -> Double {
            switch args[key] {
            case nil, .null?: return absent
            case .int(let v)?: return Double(v)
            case .double(let v)?: return v
            default: throw wrong(key, "a number")
            }
        }
        func flag(_ key: String, absent: Bool) throws -> Bool {
            switch args[key] {
            case nil, .null?: return absent
            case .bool(let b)?: return b
            default: throw wrong(key, "true or false")
            }
        }
        let fixed: [(String, JSONValue)] = kind == .beit
            ? [("qkv_bias", .bool(true)), ("swiglu_mlp", .bool(false)), ("scale_mlp", .bool(false))]
            : [("qkv_bias", .bool(true)), ("class_token", .bool(true)), ("no_embed_class", .bool(false)), ("reg_tokens", .int(0)),
               ("pre_norm", .bool(false)), ("final_norm", .bool(true)), ("qk_norm", .bool(false)), ("pos_embed", .string("learn")),
               ("dynamic_img_size", .bool(false))]
        for (key, built) in fixed where args[key].map({ $0 != built }) ?? false {
            throw fail("model_args.\(key) is \(args[key]!.shown), but ropim's encoder can only be built with \(built.shown)")
        }
        var v = ViTConfig()
        v.imgSize = try int("img_size"); v.patchSize = try int("patch_size"); v.inChans = try int("in_chans")
        v.embedDim = try int("embed_dim"); v.depth = try int("depth"); v.numHeads = try int("num_heads")
        v.mlpRatio = try number("mlp_ratio", absent: 4)
        v.layerScaleInit = try number("init_values", absent: 0)
        v.dropPathRate = 0
        let pool: String
        switch args["global_pool"] {
        case nil, .null?: pool = kind == .beit ? "avg" : "token"
        case .string(let s)?: pool = s
        default: throw wrong("global_pool", "a string")
        }
        let pooledNorm: Bool
        switch kind {
        case .beit:
            v.posEmbed = try flag("use_abs_pos_emb", absent: true) ? .learned : .none
            let (perBlock, shared) = (try flag("use_rel_pos_bias", absent: false), try flag("use_shared_rel_pos_bias", absent: false))
            if perBlock && shared { throw fail("model_args.use_rel_pos_bias and use_shared_rel_pos_bias are both true; ropim's encoder has one or the other") }
            v.relPosBias = shared ? .shared : perBlock ? .perBlock : .none
            pooledNorm = try flag("use_fc_norm", absent: pool == "avg")
        case .timm:
            guard ["", "token", "avg", "avgmax", "max"].contains(pool) else {
                throw fail("model_args.global_pool is \"\(pool)\"; ropim's encoder has no attention pooling (use \"token\" or \"avg\")")
            }
            v.posEmbed = .learned; v.relPosBias = .none
            pooledNorm = try flag("fc_norm", absent: ["avg", "avgmax", "max"].contains(pool))
        }
        do { try v.validate() } catch let e as ViTConfig.Invalid {
            throw fail(e.description.replacingOccurrences(of: "model.layer_scale_init", with: "model_args.init_values")
                .replacingOccurrences(of: "model.", with: "model_args."))
        }
        return (v, pooledNorm)
    }

    /// The image normalization, checked against the encoder's input channels.
    public func normalization(channels: Int, name: String) throws -> Normalization {
        let mean = pretrainedCfg.mean.map(Float.init), std = pretrainedCfg.std.map(Float.init)
        if let m = Normalization.problem(mean: mean, std: std, channels: channels, key: "pretrained_cfg.mean/std", channelsKey: "model_args.in_chans") {
            throw CheckpointError(description: "\(name): \(m); \(Self.fix)")
        }
        return Normalization(mean: mean, std: std)
    }
}

// MARK: writing one

extension HubConfig {
    /// timm's registered names by width; the entrypoint only picks the class, model_args set every size.
    static func architecture(_ format: ExportFormat, embedDim d: Int) -> String {
        switch format {
        case .beit: return d == 1024 ? "beit_large_patch16_224" : "beit_base_patch16_224"
        case .timm:
            let size = ["tiny", "small", "base", "large"].first { Self.sizes[$0]!.embed == d } ?? "base"
            return "vit_\(size)_patch16_224"
        }
    }

    /// The config of `v` exported as `format`: an encoder (`classes` 0: final norm on the tokens, no pooling) or
    /// a classifier (mean of the patch tokens → fc_norm → head, as ropim's fine-tuning). model_args holds only
    /// arguments the class's constructor takes, every size among them.
    public static func make(_ v: ViTConfig, format: ExportFormat, classes: Int, normalization n: Normalization,
                            labelNames: [String]? = nil) -> HubConfig {
        var a: [String: JSONValue] = ["img_size": .int(v.imgSize), "patch_size": .int(v.patchSize), "in_chans": .int(v.inChans),
                                      "embed_dim": .int(v.embedDim), "depth": .int(v.depth), "num_heads": .int(v.numHeads),
                                      "mlp_ratio": .double(v.mlpRatio), "qkv_bias": .bool(true),
                                      "init_values": v.layerScaleInit > 0 ? .double(v.layerScaleInit) : .null]
        let pool: String
        switch format {
        case .beit:
            a["use_abs_pos_emb"] = .bool(v.posEmbed != .none)
            a["use_rel_pos_bias"] = .bool(v.relPosBias == .perBlock)
            a["use_shared_rel_pos_bias"] = .bool(v.relPosBias == .shared)
            pool = classes > 0 ? "avg" : ""
        case .timm:
            pool = classes > 0 ? "avg" : "token"   // avg: fc_norm after pooling; token: the final norm on every token
        }
        a["global_pool"] = .string(pool)
        let c = v.inChans
        // Each Float as the shortest decimal that reads back to it (0.286, not 0.28600001335144043).
        let expand = { (x: [Float]) in (x.count == c ? x : [Float](repeating: x[0], count: c)).map { Double("\($0)") ?? Double($0) } }
        let cfg = PretrainedCfg(inputSize: [c, v.imgSize, v.imgSize], mean: expand(n.mean), std: expand(n.std), numClasses: classes)
        return HubConfig(architecture: architecture(format, embedDim: v.embedDim), numClasses: classes, numFeatures: v.embedDim,
                         globalPool: pool.isEmpty ? nil : pool, modelArgs: a, pretrainedCfg: cfg,
                         labelNames: classes > 0 && labelNames?.count == classes ? labelNames : nil)
    }
}
