// The seam for pre-training methods. A method is one type that conforms to `PretrainingObjective`
// (MAE-like methods with their own decoder) or one `TokenCorruption` run by `ReconstructionModel`
// (methods that corrupt the patch tokens and reconstruct pixels with a linear decoder: ROPIM, SimMIM).
// Adding a method = its own file + one line in `Objectives.registry` (docs/ARCHITECTURE.md).

import ROPIMKernels
import ROPIMNN

/// A self-supervised pre-training objective over a ViT encoder.
///
/// The training loop calls `forward` (loss of one batch) then `backward` (accumulate gradients); the
/// pictures call `views(image:)` after a forward to show what the encoder saw and where the loss looked.
public protocol PretrainingObjective: AnyObject {
    /// The encoder's architecture.
    var vit: ViTConfig { get }
    /// The method settings the objective was built from (validated).
    var method: MethodConfig { get }
    /// Every parameter: the encoder's under `encoder.`, then the objective's own (mask token, decoder).
    var params: ParameterStore { get }
    /// The encoder (its parameters live in `params` under `encoder.`).
    var encoder: VisionTransformer { get }
    /// The decoder output Ŷ of the last forward: [B·K, p·p·C] normalized pixels, patch rows in raster order.
    var prediction: Tensor { get }

    /// Initializes every parameter from `rng` (the encoder as BEiT, the rest as the method's reference code).
    func initialize(rng: inout RNG)
    /// Mean loss of one batch of normalized images [B, C, H, W]. Image b draws its corruption and drop-path
    /// masks from `rngs[b]` alone (B generators; the trainer derives them from (seed, epoch, image index)).
    /// Keeps what `backward` needs. Parallel loops and products run on `compute`.
    func forward(images: Tensor, batch: Int, training: Bool, rngs: inout [RNG], compute: ComputeContext) -> Double
    /// Accumulates every parameter gradient of the last forward's loss, multiplied by `lossScale`.
    func backward(lossScale: Float, compute: ComputeContext)
    /// For image `b` of the last forward: operators on its patch rows [K, p·p·C] (see `ObjectiveViews`).
    func views(image b: Int) -> ObjectiveViews
    /// Titles of the five reconstruction-picture columns (ASCII; "Pi" = Π, "y^" = ŷ).
    var pictureTitles: [String] { get }
    /// Ŷ of the last forward in the units of the normalized pixels [B·K, p·p·C], for pictures: `prediction`
    /// itself unless the objective predicts something else (MAE with norm_pix_loss un-normalizes per patch).
    var picturePrediction: [Float] { get }
}

/// What one image looked like to an objective, as linear maps on its patch rows [K, p·p·C]:
/// - `kept`: what the encoder saw of the image (Π·Y for ROPIM, the visible rows for masking);
/// - `loss`: where the loss looks (Π⊥ for ROPIM, the masked rows for masking);
/// - `fill`: the part of the prediction pasted over `kept(Y)` in pictures: pasted = kept(Y) + fill(Ŷ);
/// - `hidden`: tokens replaced by something a picture cannot show (a learned mask token), drawn grey.
public struct ObjectiveViews {
    public var kept: TokenOperator
    public var loss: TokenOperator
    public var fill: TokenOperator
    public var hidden: [Bool]?
    public init(kept: TokenOperator, loss: TokenOperator, fill: TokenOperator, hidden: [Bool]? = nil) {
        self.kept = kept; self.loss = loss; self.fill = fill; self.hidden = hidden
    }
    /// Masking (SimMIM, MAE): the encoder saw the visible rows; loss and fill are the `hidden` rows.
    public static func masking(hidden: [Bool]) -> ObjectiveViews {
        let masked = TokenOperator.rows(hidden)
        return ObjectiveViews(kept: .rows(hidden.map { !$0 }), loss: masked, fill: masked, hidden: hidden)
    }
}

/// The registered objectives, by the name `method.corruption` selects.
public enum Objectives {
    /// `validate(method, vit, selected)` checks the method's own keys, once (it owns them): in full when the
    /// objective is the selected one, for range only otherwise. `make` builds the objective.
    public struct Entry: Sendable {
        public let validate: @Sendable (MethodConfig, ViTConfig, Bool) throws -> Void
        public let make: @Sendable (ViTConfig, MethodConfig) throws -> any PretrainingObjective
        public init(validate: @escaping @Sendable (MethodConfig, ViTConfig, Bool) throws -> Void,
                    make: @escaping @Sendable (ViTConfig, MethodConfig) throws -> any PretrainingObjective) {
            self.validate = validate; self.make = make
        }
        /// An objective that corrupts tokens and reconstructs pixels with a linear decoder.
        public static func reconstruction<C: TokenCorruption>(_ corruption: C.Type) -> Entry {
            Entry(validate: { m, v, selected in try C.validate(m, vit: v, selected: selected) },
                  make: { v, m in try ReconstructionModel<C>(vit: v, method: m) })
        }
    }

    nonisolated(unsafe) public static var registry: [ObjectiveName: Entry] = [
        .rop: .reconstruction(ROPIM.self),
        .complementInput: .reconstruction(ROPIM.self),
        .mask: .reconstruction(SimMIM.self),
        .mae: Entry(validate: { m, v, selected in try MAE.validate(m, vit: v, selected: selected) }, make: { v, m in MAE(vit: v, method: m) }),
        .none: .reconstruction(NoCorruption.self),
    ]

    /// The names that `method.corruption` accepts, sorted.
    public static var names: [String] { registry.keys.map(\.rawValue).sorted() }

    static func entry(_ name: ObjectiveName) throws -> Entry {
        guard let e = registry[name] else {
            throw MethodConfig.Invalid(description: "method.corruption '\(name.rawValue)' is not a known objective; use one of \(names.joined(separator: ", "))")
        }
        return e
    }

    /// Validates `method` against `vit` and builds the objective it names.
    public static func make(vit: ViTConfig, method: MethodConfig) throws -> any PretrainingObjective {
        try vit.validate()
        try method.validate(for: vit)
        return try entry(method.corruption).make(vit, method)
    }
}

extension PretrainingObjective {
    /// `forward` with per-image generators split from `rng` (one draw per image): for pictures, benchmarks
    /// and tests, which have no dataset indices.
    public func forward(images: Tensor, batch: Int, training: Bool, rng: inout RNG, compute: ComputeContext) -> Double {
        var rngs = RNG.split(&rng, count: batch)
        return forward(images: images, batch: batch, training: training, rngs: &rngs, compute: compute)
    }

    /// `backward(lossScale: 1, compute:)`.
    public func backward(compute: ComputeContext) { backward(lossScale: 1, compute: compute) }
    public var picturePrediction: [Float] { prediction.array }
}
