// The pre-training model (docs/METHOD.md §3): patch embedding → corruption → ViT → linear decoder → loss
// on normalized pixels, restricted to what the corruption removed. Parameter names follow the
// SimMIM/ROPIM checkpoints: `encoder.*`, `encoder.mask_token`, `decoder.0.*`.

import ROPIMKernels
import ROPIMNN

public final class PretrainModel {
    public let vit: ViTConfig
    public let method: MethodConfig
    public let params = ParameterStore()
    public let encoder: VisionTransformer
    public let decoder: Linear
    public let maskToken: ParamRef?

    // Per-step state, kept for backward and for pictures.
    public private(set) var sketches: [CountSketch] = []
    public private(set) var masks: [[Float]] = []
    public let corrupted = Tensor(shape: [0])    // [B·K, D] encoder input tokens
    public let prediction = Tensor(shape: [0])   // [B·K, p·p·C] decoder output Ŷ
    let patchOut = Tensor(shape: [0])            // [B·K, D] encoder output without cls
    let lossView = Tensor(shape: [0])            // [B·K, p·p·C] E = Op(Y − Ŷ)
    let dPrediction = Tensor(shape: [0])
    let dPatchOut = Tensor(shape: [0]), dOut = Tensor(shape: [0])
    let scratch = Tensor(shape: [0])             // per-image sketch scratch [B, K'·max(D, p·p·C)]
    public private(set) var batch = 0

    public init(vit: ViTConfig, method: MethodConfig) throws {
        try vit.validate()
        try method.validate(for: vit)
        self.vit = vit
        self.method = method
        encoder = VisionTransformer(config: vit, params: params, prefix: "encoder.")
        maskToken = method.corruption == .mask ? params.add("encoder.mask_token", shape: [1, 1, vit.embedDim]) : nil
        decoder = Linear(params, "decoder.0", inFeatures: vit.embedDim, outFeatures: vit.patchDim,
                         weightShape: [vit.patchDim, vit.embedDim, 1, 1])
        params.allocate()
    }

    /// Initializes every parameter from `rng` (encoder as BEiT; mask token trunc-normal; decoder as a torch 1×1 conv).
    public func initialize(rng: inout RNG) {
        encoder.initialize(rng: &rng)
        if let maskToken { params.fill(maskToken) { _ in Float(rng.truncatedNormal(std: self.vit.initStd)) } }
        let bound = 1 / Double(vit.embedDim).squareRoot()
        params.fill(decoder.weight) { _ in Float(rng.uniform(-bound, bound)) }
        params.fill(decoder.bias!) { _ in Float(rng.uniform(-bound, bound)) }
    }

    /// Draws this step's corruption for each image (a fresh sketch or mask per image).
    public func sampleCorruption(batch: Int, rng: inout RNG) {
        sketches = []; masks = []
        switch method.corruption {
        case .rop, .complementInput:
            // Sizes were validated in init, so sampling cannot fail.
            sketches = (0..<batch).map { _ in
                try! CountSketch.sample(tokens: vit.numPatches, buckets: method.sketchSize, sampler: method.sampler, rng: &rng)
            }
        case .mask:
            masks = (0..<batch).map { _ in
                simMIMMask(imgSize: vit.imgSize, patchSize: vit.patchSize, maskPatchSize: method.maskPatchSize,
                           ratio: method.maskRatio, rng: &rng)
            }
        case .none: break
        }
    }

    /// Loss of one batch: images [B, C, H, W] (normalized). `rng` draws the corruption and drop-path masks.
    /// Leaves what backward needs; call `backward()` next to accumulate gradients (scaled by `lossScale`).
    public func forward(images: Tensor, batch: Int, training: Bool, rng: inout RNG, compute: ComputeContext) -> Double {
        self.batch = batch
        let k = vit.numPatches, d = vit.embedDim, n = vit.numTokens, pd = vit.patchDim
        sampleCorruption(batch: batch, rng: &rng)
        let tokens = encoder.embedPatches(images, batch: batch, compute: compute)
        corrupted.resize([batch * k, d])
        Profiler.measure("sketch") { corruptTokens(tokens, into: corrupted, compute: compute) }
        let out = encoder.encode(corrupted.data, batch: batch, training: training, rng: &rng, compute: compute)
        patchOut.resize([batch * k, d])
        for b in 0..<batch { (patchOut.data + b * k * d).update(from: out.data + (b * n + 1) * d, count: k * d) }
        prediction.resize([batch * k, pd])
        decoder.forward(params, x: patchOut.data, rows: batch * k, y: prediction.data, compute: compute)
        return Profiler.measure("loss") { lossAndGradient(compute: compute) }
    }

    /// Accumulates all parameter gradients of the last forward's loss, multiplied by `lossScale`.
    public func backward(lossScale: Float = 1, compute: ComputeContext) {
        let k = vit.numPatches, d = vit.embedDim, n = vit.numTokens
        if lossScale != 1 { for i in 0..<dPrediction.count { dPrediction[i] *= lossScale } }
        dPatchOut.resize([batch * k, d]); dOut.resize([batch * n, d])
        decoder.backward(params, dy: dPrediction.data, x: patchOut.data, rows: batch * k, dx: dPatchOut.data, compute: compute)
        dOut.zero()
        for b in 0..<batch { (dOut.data + (b * n + 1) * d).update(from: dPatchOut.data + b * k * d, count: k * d) }
        let dTokens = encoder.backwardEncode(dOut.data, compute: compute)
        Profiler.measure("sketch") { corruptionBackward(dTokens, compute: compute) }
        encoder.backwardPatches(dTokens.data, compute: compute)
    }

    // MARK: corruption

    /// out_b = Π_b·x_b (or Π⊥_b·x_b) for every image b; x and out are [B·K, cols] and may be the same.
    private func applyProjection(_ x: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>, cols: Int, complement: Bool,
                                 compute: ComputeContext) {
        let k = vit.numPatches, per = method.sketchSize * cols, scale = method.projectorScale
        scratch.resize([batch, per])
        let s = scratch.data
        compute.forEach(batch) { b in
            let src = x + b * k * cols, dst = out + b * k * cols
            if complement { sketches[b].projectComplement(src, cols: cols, scale: scale, scratch: s + b * per, into: dst) }
            else { sketches[b].project(src, cols: cols, scale: scale, scratch: s + b * per, into: dst) }
        }
    }

    /// X̃ = corruption(X), per image. X, X̃ are [B·K, D].
    private func corruptTokens(_ x: Tensor, into y: Tensor, compute: ComputeContext) {
        let k = vit.numPatches, d = vit.embedDim
        switch method.corruption {
        case .rop, .complementInput:
            applyProjection(x.data, into: y.data, cols: d, complement: method.corruption == .complementInput, compute: compute)
        case .mask:
            let mt = params.value(maskToken!)
            for b in 0..<batch {
                for t in 0..<k {
                    let dst = y.data + (b * k + t) * d
                    if masks[b][t] > 0 { dst.update(from: mt, count: d) } else { dst.update(from: x.data + (b * k + t) * d, count: d) }
                }
            }
        case .none:
            y.data.update(from: x.data, count: batch * k * d)
        }
    }

    /// d tokens = corruptionᵀ(d corrupted), in place. Π and Π⊥ are symmetric, so their transpose is themselves.
    private func corruptionBackward(_ g: Tensor, compute: ComputeContext) {
        let k = vit.numPatches, d = vit.embedDim
        switch method.corruption {
        case .rop, .complementInput:
            applyProjection(g.data, into: g.data, cols: d, complement: method.corruption == .complementInput, compute: compute)
        case .mask:
            let gm = params.grad(maskToken!)
            for b in 0..<batch {
                for t in 0..<k where masks[b][t] > 0 {
                    let row = g.data + (b * k + t) * d
                    Vec.add(row, into: gm, count: d)
                    row.update(repeating: 0, count: d)
                }
            }
        case .none: break
        }
    }

    // MARK: loss

    /// Σ|e| (l1) or Σe² of e [rows, cols], and g = −sign(e)·scale or −2e·scale. Rows split over the
    /// threads (`ComputeContext.reduce`); each row's sum is added in Double, per-chunk partials in chunk order.
    static func lossAndGradient(_ e: UnsafePointer<Float>, rows: Int, cols: Int, l1: Bool, scale: Float,
                                into g: UnsafeMutablePointer<Float>, compute: ComputeContext) -> Double {
        let zero = Float16x(repeating: 0), plus = Float16x(repeating: scale), minus = Float16x(repeating: -scale)
        let twice = Float16x(repeating: -2 * scale)
        var sum = 0.0
        compute.reduce(Double.self, rows: rows, cols: cols, width: 1) { range, partial in
            var total = 0.0
            for row in range {
                var acc = zero
                var j = 0
                while j < cols {
                    let n = Swift.min(16, cols - j), o = row * cols + j
                    let v = n == 16 ? Vec.load(e + o) : Vec.load(e + o, count: n)
                    let grad: Float16x
                    if l1 {
                        acc += v.replacing(with: -v, where: v .< 0)
                        grad = zero.replacing(with: minus, where: v .> 0).replacing(with: plus, where: v .< 0)
                    } else {
                        acc = acc.addingProduct(v, v)
                        grad = twice * v
                    }
                    if n == 16 { Vec.store(grad, g + o) } else { Vec.store(grad, g + o, count: n) }
                    j += 16
                }
                total += Double(Vec.hsum(acc))
            }
            partial.pointee = total
        } combine: { sum += $0.pointee }
        return sum
    }

    /// E = Op(Y − Ŷ) where Op is what the loss sees (Π⊥ for rop, Π for complement-input, the mask
    /// rows for mask, identity for none); L = mean |E| or mean E²; dŶ = −Op(sign E or 2E)/count.
    private func lossAndGradient(compute: ComputeContext) -> Double {
        let k = vit.numPatches, pd = vit.patchDim, rows = batch * k
        let target = encoder.patches   // normalized pixels, patchified [B·K, p·p·C]
        lossView.resize([rows, pd]); dPrediction.resize([rows, pd])
        let e = lossView.data, t = target.data, y = prediction.data
        compute.forChunks(rows * pd, minChunk: 1 << 14) { r in
            (e + r.lowerBound).update(from: t + r.lowerBound, count: r.count)
            Vec.axpy(-1, y + r.lowerBound, e + r.lowerBound, count: r.count)
        }
        var count = Double(rows * pd)
        switch method.corruption {
        case .rop, .complementInput:
            // The loss looks at what the input lost: Π⊥ for rop, Π for complement-input.
            applyProjection(lossView.data, into: lossView.data, cols: pd, complement: method.corruption == .rop, compute: compute)
        case .mask:
            var masked = 0
            for b in 0..<batch {
                for t in 0..<k {
                    if masks[b][t] > 0 { masked += 1 } else { (lossView.data + (b * k + t) * pd).update(repeating: 0, count: pd) }
                }
            }
            count = Double(Swift.max(masked, 1) * pd)
        case .none: break
        }
        let sum = Self.lossAndGradient(e, rows: rows, cols: pd, l1: method.loss == .l1, scale: Float(1 / count), into: dPrediction.data,
                                       compute: compute)
        // Chain through Op (symmetric): dŶ = Op(dE/dE-space). Masked rows are already zero in E ⇒ in dŶ.
        switch method.corruption {
        case .rop, .complementInput:
            applyProjection(dPrediction.data, into: dPrediction.data, cols: pd, complement: method.corruption == .rop, compute: compute)
        case .mask, .none: break
        }
        return sum / count
    }
}
