// ROPIM (docs/METHOD.md §1–3): per image a fresh count sketch P; the encoder sees Π·X (Π = P†P, the
// orthogonal projector onto P's row space along the token axis) and the loss looks at Π⊥(Y − Ŷ), what the
// projection removed. `complement-input` is the mirrored ablation: the encoder sees Π⊥·X, the loss Π(Y − Ŷ).
// Owns `method.sketch_size`, `method.sampler` and `method.reference_scale`.

import ROPIMKernels
import ROPIMNN

public final class ROPIM: TokenCorruption {
    public let tokens: Int, sketchSize: Int
    public let sampler: SketchSampler
    public let scale: ProjectorScale
    /// true for `complement-input`: the encoder sees Π⊥·X and the loss looks at Π.
    public let complementInput: Bool
    /// The sketch of each image of the last `sample`.
    public private(set) var sketches: [CountSketch] = []
    let scratch = Tensor(shape: [0])             // per-image sketch scratch [B, K'·cols]

    public static func validate(_ m: MethodConfig, vit: ViTConfig, selected: Bool) throws {
        if !(m.referenceScale.isFinite && m.referenceScale >= 0) {
            throw MethodConfig.Invalid(description: "method.reference_scale must be a finite number ≥ 0 (0 = exact projector), got \(m.referenceScale)")
        }
        guard selected else { return }
        do { try CountSketch.validate(tokens: vit.numPatches, buckets: m.sketchSize, sampler: m.sampler) } catch {
            throw MethodConfig.Invalid(description: "method.sketch_size: \(error) (model.img_size \(vit.imgSize) / model.patch_size \(vit.patchSize) = \(vit.gridSize)² tokens)")
        }
    }

    public init(vit: ViTConfig, method: MethodConfig, params: ParameterStore) {
        tokens = vit.numPatches; sketchSize = method.sketchSize; sampler = method.sampler
        scale = method.projectorScale
        complementInput = method.corruption == .complementInput
    }

    public func initialize(params: ParameterStore, rng: inout RNG) {}

    public func sample(rngs: inout [RNG]) {
        // Sizes were validated before the model was built, so sampling cannot fail.
        sketches = rngs.indices.map { b in
            try! CountSketch.sample(tokens: tokens, buckets: sketchSize, sampler: sampler, rng: &rngs[b])
        }
    }

    public func corrupt(_ x: Tensor, into y: Tensor, params: ParameterStore, batch: Int, compute: ComputeContext) {
        project(x.data, into: y.data, cols: x.shape[1], batch: batch, complement: complementInput, compute: compute)
    }

    /// Π and Π⊥ are symmetric, so the backward of the corruption is the same projection.
    public func corruptBackward(_ g: Tensor, params: ParameterStore, batch: Int, compute: ComputeContext) {
        project(g.data, into: g.data, cols: g.shape[1], batch: batch, complement: complementInput, compute: compute)
    }

    /// The loss looks at what the input lost: Π⊥ for rop, Π for complement-input.
    public func lossView(_ e: UnsafeMutablePointer<Float>, cols: Int, batch: Int, compute: ComputeContext) -> Double {
        project(e, into: e, cols: cols, batch: batch, complement: !complementInput, compute: compute)
        return Double(batch * tokens * cols)
    }

    public func lossViewBackward(_ g: UnsafeMutablePointer<Float>, cols: Int, batch: Int, compute: ComputeContext) {
        project(g, into: g, cols: cols, batch: batch, complement: !complementInput, compute: compute)
    }

    public func views(image b: Int) -> ObjectiveViews {
        let s = sketches[b]
        let pi = TokenOperator.project(s, scale), perp = TokenOperator.complement(s, scale)
        return complementInput ? ObjectiveViews(kept: perp, loss: pi, fill: pi) : ObjectiveViews(kept: pi, loss: perp, fill: perp)
    }

    public var pictureTitles: [String] {
        complementInput ? ["original x", "input (I-Pi)x", "output y^", "(I-Pi)x+Pi y^", "|Pi(x-y^)|"]
            : ["original x", "input Pi x", "output y^", "Pi x+(I-Pi)y^", "|(I-Pi)(x-y^)|"]
    }

    /// out_b = Π_b·x_b (or Π⊥_b·x_b) for every image b; x and out are [B·K, cols] and may be the same.
    private func project(_ x: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>, cols: Int, batch: Int, complement: Bool,
                         compute: ComputeContext) {
        let k = tokens, per = sketchSize * cols, scale = scale, sketches = sketches
        scratch.resize([batch, per])
        let s = scratch.data
        compute.forEach(batch) { b in
            let src = x + b * k * cols, dst = out + b * k * cols
            if complement { sketches[b].projectComplement(src, cols: cols, scale: scale, scratch: s + b * per, into: dst) }
            else { sketches[b].project(src, cols: cols, scale: scale, scratch: s + b * per, into: dst) }
        }
    }
}
