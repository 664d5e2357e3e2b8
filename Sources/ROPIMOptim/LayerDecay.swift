// Layer-wise learning-rate decay (BEiT/SimMIM fine-tuning): parameters are assigned to layers
// (patch embedding, cls and position embedding = 0; block i = i + 1; everything else = depth + 1) and a
// layer l trains at lr · decay^(depth + 1 − l), so the head moves fastest and the stem slowest.

import ROPIMNN

public enum LayerDecay {
    /// The layer of a parameter name (timm/BEiT names, optionally with a prefix such as "encoder.").
    public static func layer(of name: String, depth: Int) -> Int {
        var n = Substring(name)
        if n.hasPrefix("encoder.") { n = n.dropFirst("encoder.".count) }
        if n == "cls_token" || n == "mask_token" || n == "pos_embed" || n.hasPrefix("patch_embed") { return 0 }
        if n.hasPrefix("blocks.") {
            let idx = n.dropFirst("blocks.".count).prefix { $0.isNumber }
            if let i = Int(idx) { return i + 1 }
        }
        return depth + 1   // rel_pos_bias (shared), final norm, fc_norm, head
    }

    /// decay^(depth + 1 − layer)
    public static func scale(layer: Int, depth: Int, decay: Double) -> Double {
        var s = 1.0
        for _ in 0..<(depth + 1 - layer) { s *= decay }
        return s
    }

    /// One LR multiplier per entry of `params` (in entry order), for `AdamW.lrScales`.
    public static func scales(_ params: ParameterStore, depth: Int, decay: Double) -> [Float] {
        params.entries.map { Float(scale(layer: layer(of: $0.name, depth: depth), depth: depth, decay: decay)) }
    }

    /// The parameter groups as timm builds them: (layer, decay or not) → names, with their LR scale.
    public struct Group: Equatable, CustomStringConvertible {
        public var layer: Int
        public var weightDecay: Bool
        public var scale: Double
        public var names: [String]
        public var description: String {
            "layer \(layer) \(weightDecay ? "decay" : "no_decay") ×\(scale): \(names.count) tensors"
        }
    }

    public static func groups(_ params: ParameterStore, depth: Int, decay: Double) -> [Group] {
        var out: [Group] = []
        for e in params.entries {
            let l = layer(of: e.name, depth: depth)
            if let i = out.firstIndex(where: { $0.layer == l && $0.weightDecay == e.decay }) { out[i].names.append(e.name) }
            else { out.append(Group(layer: l, weightDecay: e.decay, scale: scale(layer: l, depth: depth, decay: decay), names: [e.name])) }
        }
        return out.sorted { ($0.layer, $0.weightDecay ? 1 : 0) < ($1.layer, $1.weightDecay ? 1 : 0) }
    }
}
