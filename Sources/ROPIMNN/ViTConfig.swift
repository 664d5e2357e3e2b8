// The encoder's architecture, as a documented Codable struct (YAML keys are the snake_case names).

import ROPIMKernels

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

    /// The largest token grid and widths accepted: bounds what one image can allocate.
    public static let maxPatches = 16_384, maxWidth = 16_384, maxHidden = 65_536

    /// Checks every key's range and the shape arithmetic; errors say which setting to change.
    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw Invalid(description: s) }
        try Check.all([
            Check.int("model.img_size", imgSize, 1...16_384),
            Check.int("model.patch_size", patchSize, 1...Swift.max(imgSize, 1)),
            Check.int("model.in_chans", inChans, 1...64),
            Check.int("model.embed_dim", embedDim, 1...Self.maxWidth),
            Check.int("model.depth", depth, 1...1024),
            Check.int("model.num_heads", numHeads, 1...Swift.max(embedDim, 1)),
            Check.real("model.mlp_ratio", mlpRatio, 0...1024, lowerOpen: true),
            Check.real("model.layer_scale_init", layerScaleInit, 0...1e6, " (0 disables LayerScale)"),
            Check.real("model.drop_path_rate", dropPathRate, 0...1, upperOpen: true),
            // Weights are drawn from a normal truncated to ±2 (timm): above std 1 almost every draw is rejected.
            Check.real("model.init_std", initStd, 0...1, lowerOpen: true),
        ], { Invalid(description: $0) })
        if imgSize % patchSize != 0 {
            try fail("model.img_size \(imgSize) is not divisible by model.patch_size \(patchSize); choose a patch size that divides the image size (divisors of \(imgSize): \((1...imgSize).filter { imgSize % $0 == 0 }.map(String.init).joined(separator: ", ")))")
        }
        if numPatches > Self.maxPatches {
            try fail("model.img_size \(imgSize) / model.patch_size \(patchSize) gives \(numPatches) tokens per image, more than \(Self.maxPatches); use a larger patch or a smaller image")
        }
        if embedDim % numHeads != 0 { try fail("model.embed_dim \(embedDim) is not divisible by model.num_heads \(numHeads)") }
        if posEmbed == .sincos && embedDim % 4 != 0 { try fail("model.pos_embed sincos needs model.embed_dim divisible by 4, got \(embedDim)") }
        let hidden = mlpHidden
        if !(1...Self.maxHidden).contains(hidden) {
            try fail("model.mlp_ratio \(mlpRatio) × model.embed_dim \(embedDim) gives an MLP hidden width of \(hidden); it must be in 1...\(Self.maxHidden)")
        }
    }

    /// What building this encoder allocates, known before anything is: the parameters VisionTransformer
    /// registers (with its final norm) and the entries of its relative position index tables (N² each).
    /// Only for a config that passed `validate()`, whose bounds keep every product inside an Int.
    public var encoderSize: (parameters: Int, indexEntries: Int) {
        let d = embedDim, h = mlpHidden
        let tables = relPosBias == .shared ? 1 : relPosBias == .perBlock ? depth : 0
        let table = RelativePositionBias.tableRows(gridHeight: gridSize, gridWidth: gridSize) * numHeads
        // norm1, norm2; qkv weight, q/v bias; proj; fc1; fc2; LayerScale
        let block = 4 * d + 3 * d * d + 2 * d + (d * d + d) + (h * d + h) + (d * h + d) + (layerScaleInit > 0 ? 2 * d : 0)
        // cls, pos_embed, patch_embed (weight + bias), tables, blocks, final norm
        let parameters = d + (posEmbed == .learned ? numTokens * d : 0) + (patchDim * d + d) + tables * table + depth * block + 2 * d
        return (parameters, tables * numTokens * numTokens)
    }

    /// The MLP hidden width, Int(mlp_ratio · D) as timm computes it.
    public var mlpHidden: Int { Int(Swift.min(mlpRatio * Double(embedDim), 1e15)) }
}
