// The encoder's architecture, as a documented Codable struct (YAML keys are the snake_case names).

public enum PositionEmbedding: String, Codable, CaseIterable, Sendable {
    case none       // reference ROPIM/SimMIM pre-training
    case learned    // timm `pos_embed`, trunc-normal init
    case sincos     // fixed 2-D sin-cos (MAE), not trained
}

public enum RelativePositionMode: String, Codable, CaseIterable, Sendable {
    case shared     // one table for all blocks (BEiT pre-training default)
    case perBlock = "per-block"
    case none
}

public struct ViTConfig: Codable, Equatable, Sendable {
    /// Input image side in pixels (square images).
    public var imgSize = 28
    /// Patch side p; imgSize must be a multiple of p.
    public var patchSize = 4
    /// Input channels C.
    public var inChans = 1
    /// Token width D.
    public var embedDim = 192
    /// Number of transformer blocks.
    public var depth = 6
    /// Attention heads; embedDim must be a multiple.
    public var numHeads = 3
    /// MLP hidden width = mlpRatio · D.
    public var mlpRatio = 4.0
    /// LayerScale γ initial value; 0 disables LayerScale.
    public var layerScaleInit = 0.1
    /// Stochastic depth: drop probability rises linearly from 0 (first block) to this (last block).
    public var dropPathRate = 0.1
    /// Absolute position embedding.
    public var posEmbed = PositionEmbedding.none
    /// Relative position bias.
    public var relPosBias = RelativePositionMode.shared
    /// Std of the truncated-normal init of linear weights, cls token, mask token and pos embed.
    public var initStd = 0.02

    public init() {}

    public var gridSize: Int { imgSize / patchSize }
    /// K: patch tokens per image.
    public var numPatches: Int { gridSize * gridSize }
    /// N = K + 1 (cls first).
    public var numTokens: Int { numPatches + 1 }
    public var patchDim: Int { inChans * patchSize * patchSize }

    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    /// Checks the shape arithmetic; errors say which setting to change.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw Invalid(description: s) }
        if imgSize < 1 || patchSize < 1 { try fail("model.img_size (\(imgSize)) and model.patch_size (\(patchSize)) must be positive") }
        if imgSize % patchSize != 0 {
            try fail("model.img_size \(imgSize) is not divisible by model.patch_size \(patchSize); choose a patch size that divides the image size (divisors of \(imgSize): \((1...imgSize).filter { imgSize % $0 == 0 }.map(String.init).joined(separator: ", ")))")
        }
        if inChans < 1 { try fail("model.in_chans must be at least 1, got \(inChans)") }
        if embedDim < 1 || depth < 1 || numHeads < 1 { try fail("model.embed_dim, model.depth and model.num_heads must be positive") }
        if embedDim % numHeads != 0 { try fail("model.embed_dim \(embedDim) is not divisible by model.num_heads \(numHeads)") }
        if posEmbed == .sincos && embedDim % 4 != 0 { try fail("model.pos_embed sincos needs model.embed_dim divisible by 4, got \(embedDim)") }
        if mlpRatio <= 0 { try fail("model.mlp_ratio must be positive, got \(mlpRatio)") }
        if !(0..<1).contains(dropPathRate) { try fail("model.drop_path_rate must be in [0, 1), got \(dropPathRate)") }
        if layerScaleInit < 0 { try fail("model.layer_scale_init must be ≥ 0 (0 disables LayerScale), got \(layerScaleInit)") }
    }
}
