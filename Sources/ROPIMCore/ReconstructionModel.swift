// Objectives that corrupt the patch tokens and reconstruct the pixels (docs/METHOD.md §3), SimMIM's
// architecture: patch embedding → corruption → ViT → linear decoder (a 1×1 conv, `decoder.0`) → loss on
// normalized pixels, restricted to what the corruption removed. The corruption is the method
// (`TokenCorruption`: ROPIM.swift, SimMIM.swift, NoCorruption.swift); this file is the shared pipeline.
// Parameter names follow the SimMIM/ROPIM checkpoints: `encoder.*`, `encoder.mask_token`, `decoder.0.*`.

import ROPIMKernels
import ROPIMNN

/// One way of corrupting the patch tokens of a batch, with the loss view that goes with it. A class:
/// it keeps the per-image draws of the last `sample` for backward and pictures.
public protocol TokenCorruption: AnyObject {
    /// Checks this method's keys of `m` (all of them when `selected`, for range only otherwise).
    static func validate(_ m: MethodConfig, vit: ViTConfig, selected: Bool) throws
    /// Registers the parameters the method adds beyond the encoder's (e.g. `encoder.mask_token`) in `params`.
    init(vit: ViTConfig, method: MethodConfig, params: ParameterStore)
    /// Initializes those parameters.
    func initialize(params: ParameterStore, rng: inout RNG)
    /// Draws this step's corruption for each image b from `rngs[b]` (a fresh sketch or mask per image).
    func sample(rngs: inout [RNG])
    /// y = corruption(x) per image; x, y are [B·K, D] (may not alias). Per-image work may run on `compute`.
    func corrupt(_ x: Tensor, into y: Tensor, params: ParameterStore, batch: Int, compute: ComputeContext)
    /// g ← corruptionᵀ(g) in place, g [B·K, D]; accumulates the gradients of the method's own parameters.
    func corruptBackward(_ g: Tensor, params: ParameterStore, batch: Int, compute: ComputeContext)
    /// e ← LossOp(e) in place, e [B·K, cols]: the part of Y − Ŷ the loss sees. Returns how many values
    /// the mean runs over.
    func lossView(_ e: UnsafeMutablePointer<Float>, cols: Int, batch: Int, compute: ComputeContext) -> Double
    /// g ← LossOpᵀ(g) in place, g [B·K, cols] (rows outside the view are already zero).
    func lossViewBackward(_ g: UnsafeMutablePointer<Float>, cols: Int, batch: Int, compute: ComputeContext)
    /// Image b of the last `sample`, as operators on its patch rows.
    func views(image b: Int) -> ObjectiveViews
    /// Titles of the five reconstruction-picture columns.
    var pictureTitles: [String] { get }
}

public final class ReconstructionModel<Corruption: TokenCorruption>: PretrainingObjective {
    public let vit: ViTConfig
    public let method: MethodConfig
    public let params = ParameterStore()
    public let encoder: VisionTransformer
    public let decoder: Linear
    public let corruption: Corruption

    // Per-step state, kept for backward and for pictures.
    public let corrupted = Tensor(shape: [0])    // [B·K, D] encoder input tokens
    public let prediction = Tensor(shape: [0])   // [B·K, p·p·C] decoder output Ŷ
    let patchOut = Tensor(shape: [0])            // [B·K, D] encoder output without cls
    let lossView = Tensor(shape: [0])            // [B·K, p·p·C] E = Op(Y − Ŷ)
    let dPrediction = Tensor(shape: [0])
    let dPatchOut = Tensor(shape: [0]), dOut = Tensor(shape: [0])
    public private(set) var batch = 0

    /// Builds the model; `vit` and `method` must be valid (`Objectives.make` checks them).
    public init(vit: ViTConfig, method: MethodConfig) throws {
        self.vit = vit
        self.method = method
        encoder = VisionTransformer(config: vit, params: params, prefix: "encoder.")
        corruption = Corruption(vit: vit, method: method, params: params)
        decoder = Linear(params, "decoder.0", inFeatures: vit.embedDim, outFeatures: vit.patchDim,
                         weightShape: [vit.patchDim, vit.embedDim, 1, 1])
        params.allocate()
    }

    /// Initializes every parameter from `rng` (encoder as BEiT; the corruption's own; decoder as a torch 1×1 conv).
    public func initialize(rng: inout RNG) {
        encoder.initialize(rng: &rng)
        corruption.initialize(params: params, rng: &rng)
        let bound = 1 / Double(vit.embedDim).squareRoot()
        params.fill(decoder.weight) { _ in Float(rng.uniform(-bound, bound)) }
        params.fill(decoder.bias!) { _ in Float(rng.uniform(-bound, bound)) }
    }

    public func forward(images: Tensor, batch: Int, training: Bool, rngs: inout [RNG], compute: ComputeContext) -> Double {
        self.batch = batch
        let k = vit.numPatches, d = vit.embedDim, n = vit.numTokens, pd = vit.patchDim
        precondition(rngs.count == batch, "one generator per image: \(rngs.count) for \(batch)")
        corruption.sample(rngs: &rngs)
        let tokens = encoder.embedPatches(images, batch: batch, compute: compute)
        corrupted.resize([batch * k, d])
        Profiler.measure("sketch") { corruption.corrupt(tokens, into: corrupted, params: params, batch: batch, compute: compute) }
        let out = encoder.encode(corrupted.data, batch: batch, training: training, rngs: &rngs, compute: compute)
        patchOut.resize([batch * k, d])
        for b in 0..<batch { (patchOut.data + b * k * d).update(from: out.data + (b * n + 1) * d, count: k * d) }
        prediction.resize([batch * k, pd])
        decoder.forward(params, x: patchOut.data, rows: batch * k, y: prediction.data, compute: compute)
        return Profiler.measure("loss") { lossAndGradient(compute: compute) }
    }

    public func backward(lossScale: Float = 1, compute: ComputeContext) {
        let k = vit.numPatches, d = vit.embedDim, n = vit.numTokens
        if lossScale != 1 { for i in 0..<dPrediction.count { dPrediction[i] *= lossScale } }
        dPatchOut.resize([batch * k, d]); dOut.resize([batch * n, d])
        decoder.backward(params, dy: dPrediction.data, x: patchOut.data, rows: batch * k, dx: dPatchOut.data, compute: compute)
        dOut.zero()
        for b in 0..<batch { (dOut.data + (b * n + 1) * d).update(from: dPatchOut.data + b * k * d, count: k * d) }
        let dTokens = encoder.backwardEncode(dOut.data, compute: compute)
        Profiler.measure("sketch") { corruption.corruptBackward(dTokens, params: params, batch: batch, compute: compute) }
        encoder.backwardPatches(dTokens.data, compute: compute)
    }

    public func views(image b: Int) -> ObjectiveViews { corruption.views(image: b) }
    public var pictureTitles: [String] { corruption.pictureTitles }

    /// E = Op(Y − Ŷ) where Op is the corruption's loss view; L = mean |E| or mean E²; dŶ = Opᵀ(sign E or 2E)/count.
    private func lossAndGradient(compute: ComputeContext) -> Double {
        let k = vit.numPatches, pd = vit.patchDim, rows = batch * k
        let target = encoder.patches   // normalized pixels, patchified [B·K, p·p·C]
        lossView.resize([rows, pd]); dPrediction.resize([rows, pd])
        let e = lossView.data, t = target.data, y = prediction.data
        compute.forChunks(rows * pd, minChunk: 1 << 14) { r in
            (e + r.lowerBound).update(from: t + r.lowerBound, count: r.count)
            Vec.axpy(-1, y + r.lowerBound, e + r.lowerBound, count: r.count)
        }
        let count = corruption.lossView(e, cols: pd, batch: batch, compute: compute)
        let sum = ReconstructionLoss.lossAndGradient(e, rows: rows, cols: pd, l1: method.loss == .l1, scale: Float(1 / count),
                                                     into: dPrediction.data, compute: compute)
        // Chain through Op (symmetric): rows outside the view are already zero in E, hence in dŶ.
        corruption.lossViewBackward(dPrediction.data, cols: pd, batch: batch, compute: compute)
        return sum / count
    }
}
