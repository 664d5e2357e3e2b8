// Weights to and from the PyTorch ecosystem. Our encoder already uses timm's BEiT names, so `beit`
// export is the encoder without its `encoder.` prefix; `timm` (VisionTransformer) folds q/v biases into
// qkv.bias and LayerScale into ls1/ls2.gamma. Import accepts either layout, a ropim checkpoint, or the
// reference ROPIM/SimMIM layout (`encoder.` prefix), and reports missing and unexpected keys.

import Foundation
import ROPIMCore
import ROPIMData
import ROPIMNN
import ROPIMFiles

public enum Interchange {
    /// Encoder tensors (and a classifier's fc_norm and head) in `format`'s names and layouts. Errors when the format cannot express the model.
    public static func exportTensors(_ store: ParameterStore, config v: ViTConfig, prefix: String, format: ExportFormat) throws -> [NamedTensor] {
        func tensor(_ name: String) -> NamedTensor? {
            store.entry(prefix + name).map { store.namedTensor($0, name: name) }
        }
        let encoderNames = store.entries.map(\.name).filter { $0.hasPrefix(prefix) && !$0.hasSuffix("mask_token") }
            .map { String($0.dropFirst(prefix.count)) }
        var out: [NamedTensor] = []
        // Fixed sin-cos position embeddings become timm's (learnable) pos_embed with the same values.
        func posEmbed() -> NamedTensor? {
            if let t = tensor("pos_embed") { return t }
            guard v.posEmbed == .sincos else { return nil }
            let t = VisionTransformer.sincos(dim: v.embedDim, grid: v.gridSize)
            return NamedTensor(name: "pos_embed", shape: [1, v.numTokens, v.embedDim], values: t.array)
        }
        switch format {
        case .beit:
            for n in encoderNames where n != "pos_embed" { out.append(tensor(n)!) }
            if let p = posEmbed() { out.insert(p, at: 1) }
        case .timm:
            guard v.relPosBias == .none else {
                throw CheckpointError(description: "timm's VisionTransformer has no relative position bias but this model uses model.rel_pos_bias: \(v.relPosBias.rawValue); export with --format beit")
            }
            let d = v.embedDim
            out.append(tensor("cls_token")!)
            out.append(posEmbed() ?? NamedTensor(name: "pos_embed", shape: [1, v.numTokens, d], values: [Float](repeating: 0, count: v.numTokens * d)))
            for n in encoderNames where !n.hasPrefix("blocks.") && n != "cls_token" && n != "pos_embed" { out.append(tensor(n)!) }
            for i in 0..<v.depth {
                let b = "blocks.\(i)."
                for n in ["norm1.weight", "norm1.bias", "attn.qkv.weight"] { out.append(tensor(b + n)!) }
                let q = tensor(b + "attn.q_bias")!.values, vb = tensor(b + "attn.v_bias")!.values
                out.append(NamedTensor(name: b + "attn.qkv.bias", shape: [3 * d], values: q + [Float](repeating: 0, count: d) + vb))
                for n in ["attn.proj.weight", "attn.proj.bias"] { out.append(tensor(b + n)!) }
                if let g = tensor(b + "gamma_1") { out.append(NamedTensor(name: b + "ls1.gamma", shape: g.shape, values: g.values)) }
                for n in ["norm2.weight", "norm2.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias"] { out.append(tensor(b + n)!) }
                if let g = tensor(b + "gamma_2") { out.append(NamedTensor(name: b + "ls2.gamma", shape: g.shape, values: g.values)) }
            }
        }
        return out
    }

    /// Prefixes training code wraps around a model's own names (DDP's `module.`, DINO's `backbone.`), stripped
    /// from the front of every name as timm's clean_state_dict and DINO's loader do.
    public static let wrapperPrefixes = ["module.", "backbone."]

    /// Copies encoder weights from a file in any supported layout into `store` (names under `prefix`).
    /// Layouts: ropim pre-training checkpoints and the reference SimMIM/ROPIM keys (`encoder.*`), timm BEiT
    /// (no prefix), timm VisionTransformer (qkv.bias → q_bias/v_bias, ls1/ls2.gamma → gamma_1/gamma_2); any of
    /// them wrapped in `wrapperPrefixes`. A file none of whose tensors is an encoder weight is an error.
    public static func importEncoder(_ path: String, into store: ParameterStore, prefix: String) throws -> LoadReport {
        let (raw, _) = try SafeTensors.read(path)
        var tensors: [NamedTensor] = []
        for var t in raw {
            try ParameterStore.checkFinite(t, source: path)   // before renaming: the error names the file's tensor
            var name = t.name
            while let w = wrapperPrefixes.first(where: { name.hasPrefix($0) }) { name.removeFirst(w.count) }
            if name.hasPrefix("encoder.") { name = String(name.dropFirst("encoder.".count)) }
            // SimMIM's decoder.*, MAE's decoder_* and mask_token: not the encoder's, reported as unexpected.
            else if name.hasPrefix("decoder.") || name.hasPrefix("decoder_") || name == "mask_token" { t.name = name; tensors.append(t); continue }
            if name.hasSuffix(".attn.qkv.bias") {
                guard t.values.count % 3 == 0 else {
                    throw CheckpointError(description: "\(path): tensor '\(t.name)' has shape \(t.shape), not three equal parts (q, k, v); the file is damaged or of another model")
                }
                let d = t.values.count / 3, stem = String(name.dropLast("qkv.bias".count))
                tensors.append(NamedTensor(name: prefix + stem + "q_bias", shape: [d], values: Array(t.values[0..<d])))
                tensors.append(NamedTensor(name: prefix + stem + "v_bias", shape: [d], values: Array(t.values[(2 * d)..<(3 * d)])))
                continue
            }
            name = name.replacingOccurrences(of: ".ls1.gamma", with: ".gamma_1").replacingOccurrences(of: ".ls2.gamma", with: ".gamma_2")
            t.name = prefix + name
            tensors.append(t)
        }
        let report = try store.load(tensors, source: path)
        guard report.loaded.contains(where: { $0.hasPrefix(prefix) && !$0.hasPrefix("decoder.") }) else {
            let names = raw.prefix(4).map(\.name).joined(separator: ", ") + (raw.count > 4 ? ", …" : "")
            throw CheckpointError(description: "\(path): none of its \(raw.count) tensors (\(names)) is an encoder weight; expected timm BEiT or ViT names "
                + "(blocks.0.attn.qkv.weight, …), optionally under encoder., module. or backbone.; the file holds another model")
        }
        return report
    }
}
