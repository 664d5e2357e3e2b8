// Reading an export sidecar (the JSON `ropim export` writes beside the weights and into their metadata, or
// that a user writes by hand for a timm file). It is untrusted input: every value is checked by the owner of
// the setting it becomes (ViTConfig.validate, Normalization.problem) before anything is built, and errors
// name the sidecar and its key (`timm_kwargs.depth`), not ropim's config key.

import Foundation
import ROPIMData
import ROPIMNN

extension ExportSidecar {
    /// Larger than any sidecar: a JSON object of a dozen settings.
    static let maxBytes = 1 << 20

    /// A weights file's sidecar: in its metadata (`sidecar`, as `ropim export` writes it), else OUT.json beside
    /// it; nil when it has neither. `name` is how errors name it.
    static func locate(for file: String, metadata: [String: String]) throws -> (text: String, name: String)? {
        if let text = metadata["sidecar"] { return (text, "\(file) (the sidecar in its metadata)") }
        let path = Interchange.sidecarPath(file)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try JSONFile.read(path, what: "the sidecar of \(file)", limit: maxBytes)
        guard let text = String(data: data, encoding: .utf8) else {
            throw CheckpointError(description: "\(path): cannot be read as UTF-8 text; the sidecar of \(file) must be a JSON file")
        }
        return (text, path)
    }

    /// Decodes a sidecar; errors name it, the key and what was expected.
    static func decode(_ text: String, name: String) throws -> ExportSidecar {
        do { return try JSONDecoder().decode(ExportSidecar.self, from: Data(text.utf8)) } catch let e as DecodingError {
            throw CheckpointError(description: "\(name): not a valid export sidecar: \(JSONFile.describe(e)); \(fix)")
        }
    }

    static let fix = "fix it to the form `ropim export` writes (format, timm_class, timm_kwargs, mean, std)"

    /// The encoder it describes, checked by `ViTConfig.validate()`. timm's defaults stand for absent optional
    /// keys; a setting the timm class has but ropim's encoder cannot build (no class token, SwiGLU, …) is an error.
    func vitConfig(name: String) throws -> ViTConfig {
        func fail(_ s: String) -> CheckpointError { CheckpointError(description: "\(name): \(s); \(Self.fix)") }
        guard let kind = ExportFormat(rawValue: format) else {
            throw fail("format '\(format)' is not one of \(ExportFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        func wrong(_ key: String, _ expected: String) -> CheckpointError {
            fail("timm_kwargs.\(key) is \(Self.shown(timmKwargs[key])), expected \(expected)")
        }
        func int(_ key: String) throws -> Int {
            guard case .int(let v)? = timmKwargs[key] else { throw wrong(key, "an integer") }
            return v
        }
        func number(_ key: String, absent: Double) throws -> Double {
            switch timmKwargs[key] {
            case nil, .null?: return absent
            case .int(let v)?: return Double(v)
            case .double(let v)?: return v
            default: throw wrong(key, "a number")
            }
        }
        func flag(_ key: String, absent: Bool) throws -> Bool {
            switch timmKwargs[key] {
            case nil: return absent
            case .bool(let b)?: return b
            default: throw wrong(key, "true or false")
            }
        }
        let fixed: [(String, JSONValue)] = kind == .beit
            ? [("qkv_bias", .bool(true)), ("swiglu_mlp", .bool(false)), ("scale_mlp", .bool(false))]
            : [("qkv_bias", .bool(true)), ("class_token", .bool(true)), ("no_embed_class", .bool(false)), ("reg_tokens", .int(0)),
               ("pre_norm", .bool(false)), ("final_norm", .bool(true)), ("qk_norm", .bool(false)), ("pos_embed", .string("learn"))]
        for (key, built) in fixed where timmKwargs[key].map({ $0 != built }) ?? false {
            throw fail("timm_kwargs.\(key) is \(Self.shown(timmKwargs[key])), but ropim's encoder can only be built with \(Self.shown(built))")
        }
        var v = ViTConfig()
        v.imgSize = try int("img_size"); v.patchSize = try int("patch_size"); v.inChans = try int("in_chans")
        v.embedDim = try int("embed_dim"); v.depth = try int("depth"); v.numHeads = try int("num_heads")
        v.mlpRatio = try number("mlp_ratio", absent: 4)
        v.layerScaleInit = try number("init_values", absent: 0)
        v.dropPathRate = 0
        switch kind {
        case .beit:
            v.posEmbed = try flag("use_abs_pos_emb", absent: true) ? .learned : .none
            let (perBlock, shared) = (try flag("use_rel_pos_bias", absent: false), try flag("use_shared_rel_pos_bias", absent: false))
            if perBlock && shared { throw fail("timm_kwargs.use_rel_pos_bias and use_shared_rel_pos_bias are both true; ropim's encoder has one or the other") }
            v.relPosBias = shared ? .shared : perBlock ? .perBlock : .none
        case .timmVit:
            v.posEmbed = .learned; v.relPosBias = .none
        }
        do { try v.validate() } catch let e as ViTConfig.Invalid {
            throw fail(e.description.replacingOccurrences(of: "model.layer_scale_init", with: "timm_kwargs.init_values")
                .replacingOccurrences(of: "model.", with: "timm_kwargs."))
        }
        return v
    }

    /// The image normalization, checked against the encoder's input channels.
    func normalization(channels: Int, name: String) throws -> Normalization {
        if let m = Normalization.problem(mean: mean, std: std, channels: channels, key: "mean/std", channelsKey: "timm_kwargs.in_chans") {
            throw CheckpointError(description: "\(name): \(m); \(Self.fix)")
        }
        return Normalization(mean: mean, std: std)
    }

    static func shown(_ v: JSONValue?) -> String {
        switch v {
        case nil: return "missing"
        case .int(let i)?: return "\(i)"
        case .double(let d)?: return "\(d)"
        case .bool(let b)?: return "\(b)"
        case .string(let s)?: return "\"\(s)\""
        case .null?: return "null"
        }
    }
}
