// The `method` section of a pre-training config: which objective (`method.corruption`), the loss, and
// each objective's own settings. Each key is validated once, by the objective that owns it.

import ROPIMKernels
import ROPIMNN

/// The name of a registered pre-training objective (`method.corruption`): rop | mask | none |
/// complement-input, plus whatever `Objectives.registry` holds. Written to YAML as the plain string.
public struct ObjectiveName: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }
    public var description: String { rawValue }

    /// ROPIM: tokens X → Π·X; loss on Π⊥(Y − Ŷ) (docs/METHOD.md §3).
    public static let rop: ObjectiveName = "rop"
    /// Ablation: tokens X → Π⊥·X; loss on Π(Y − Ŷ).
    public static let complementInput: ObjectiveName = "complement-input"
    /// SimMIM: random blocks of tokens replaced by a learned mask token; loss on masked patches.
    public static let mask: ObjectiveName = "mask"
    /// MAE: the encoder sees a random subset of the tokens; a small transformer decoder reconstructs the rest.
    public static let mae: ObjectiveName = "mae"
    /// No corruption; loss on every patch (an autoencoder baseline).
    public static let none: ObjectiveName = "none"
}

public enum LossKind: String, Codable, CaseIterable, Sendable {
    case l1   // reference
    case mse  // slightly better in the authors' ablation
}

/// The method's settings (YAML section `method`).
public struct MethodConfig: Codable, Equatable, Sendable {
    /// The objective: rop | mask | mae | none | complement-input.
    public var corruption = ObjectiveName.rop
    /// K': sketch size (rows of P). Balanced sampling needs K' to divide the token count K.
    public var sketchSize = 7
    /// balanced (reference: every bucket holds K/K' tokens) | iid
    public var sampler = SketchSampler.balanced
    /// 0: exact projector Π = P†P. > 0: the reference code's scale·PᵀP (0.14 there), for side-by-side runs.
    public var referenceScale = 0.0
    /// SimMIM mask ratio (fraction of mask patches hidden).
    public var maskRatio = 0.6
    /// SimMIM mask patch side in pixels: a multiple of the model patch size dividing the image size.
    public var maskPatchSize = 4
    /// l1 | mse, on normalized pixels (mae always uses MSE, as MAE does).
    public var loss = LossKind.l1
    /// MAE: fraction of the patch tokens hidden from the encoder; it keeps Int(K·(1 − ratio)) per image.
    public var maeMaskRatio = 0.75
    /// MAE decoder width (MAE's ViT-B: 512; here sized for the 192-wide Fashion-MNIST encoder).
    public var decoderEmbedDim = 128
    /// MAE decoder blocks (MAE's ViT-B: 8).
    public var decoderDepth = 2
    /// MAE decoder attention heads; must divide decoder_embed_dim (MAE's ViT-B: 16).
    public var decoderNumHeads = 4
    /// MAE: targets normalized per patch by their mean and (unbiased) variance.
    public var normPixLoss = false

    public init() {}

    public var projectorScale: ProjectorScale { referenceScale > 0 ? .reference(Float(referenceScale)) : .exact }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Checks the settings against the encoder's shape: the selected objective's keys in full, the other
    /// objectives' keys for range only. Errors name the key and the fix.
    public func validate(for vit: ViTConfig) throws {
        let selected = try Objectives.entry(corruption)
        for (name, entry) in Objectives.registry.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where name != corruption {
            try entry.validate(self, vit, false)
        }
        try selected.validate(self, vit, true)
    }
}
