// MAE (He et al., facebookresearch/mae models_mae.py): per image a random subset of the patch tokens
// (argsort of uniform noise, int(K·(1 − ratio)) kept) goes through the encoder with the cls token; a small
// transformer decoder gets the encoded visible tokens and a learned mask token at every hidden position,
// with fixed 2-D sin-cos positions, and predicts every patch's pixels; the loss is the mean squared error
// over the hidden patches (per-patch normalized targets with `norm_pix_loss`). `method.loss` is not used.
// Owns `method.mae_mask_ratio`, `decoder_embed_dim`, `decoder_depth`, `decoder_num_heads`, `norm_pix_loss`.
// Names: the encoder under `encoder.` (timm names: export and fine-tuning unchanged), then MAE's own
// `decoder_embed`, `mask_token`, `decoder_blocks.N`, `decoder_norm`, `decoder_pred`.

import ROPIMKernels
import ROPIMNN

public final class MAE: PretrainingObjective {
    public let vit: ViTConfig
    public let method: MethodConfig
    public let params = ParameterStore()
    public let encoder: VisionTransformer
    public let decoderEmbed: Linear
    public let maskToken: ParamRef
    public let decoderBlocks: [Block]
    public let decoderNorm: LayerNorm
    public let decoderPred: Linear
    /// Fixed sin-cos decoder positions [1 + K, Dd], cls row zero (MAE's `decoder_pos_embed`, not trained).
    public let decoderPosEmbed: Tensor
    /// Visible tokens per image, L: MAE's len_keep = int(K·(1 − mask_ratio)).
    public let keep: Int
    /// Masking noise [B·K] that every forward uses instead of uniform draws while set (tests, parity).
    public var injectedNoise: [Float]?

    // Per-step state, kept for backward and pictures.
    /// ids_shuffle [B·K]: per image the tokens by ascending noise; the first L are the visible ones.
    public private(set) var idsShuffle: [Int32] = []
    /// ids_restore [B·K]: each token's rank in its image's shuffle (rank < L: visible).
    public private(set) var idsRestore: [Int32] = []
    public let prediction = Tensor(shape: [0])   // [B·K, pd] decoder output Ŷ, raster order
    let decIn = Tensor(shape: [0])               // [B·(1+L), Dd] decoder_embed(encoder output)
    let decX = Tensor(shape: [0])                // [B·(1+K), Dd] unshuffled, mask tokens in, + positions
    let decNormOut = Tensor(shape: [0])          // [B·(1+K), Dd]
    let normMean = Tensor(shape: [0]), normRstd = Tensor(shape: [0])
    let predIn = Tensor(shape: [0])              // [B·K, Dd] decoder_norm output without the cls rows
    let lossError = Tensor(shape: [0])           // [B·K, pd] E = target − Ŷ on masked rows, 0 elsewhere
    let dPrediction = Tensor(shape: [0]), dPredIn = Tensor(shape: [0])
    let dDec = Tensor(shape: [0]), dDecOther = Tensor(shape: [0])   // [B·(1+K), Dd], ping-pong
    let dDecIn = Tensor(shape: [0]), dEncoded = Tensor(shape: [0])
    let scratch = BlockScratch()
    public private(set) var batch = 0

    public static func validate(_ m: MethodConfig, vit: ViTConfig, selected: Bool) throws {
        try Check.all([
            Check.real("method.mae_mask_ratio", m.maeMaskRatio, 0...1, lowerOpen: true, upperOpen: true),
            Check.int("method.decoder_embed_dim", m.decoderEmbedDim, 4...ViTConfig.maxWidth),
            Check.int("method.decoder_depth", m.decoderDepth, 1...1024),
            Check.int("method.decoder_num_heads", m.decoderNumHeads, 1...Swift.max(m.decoderEmbedDim, 1)),
        ], { MethodConfig.Invalid(description: $0) })
        guard selected else { return }
        func fail(_ s: String) throws -> Never { throw MethodConfig.Invalid(description: s) }
        if vit.relPosBias != .none {
            try fail("method.corruption mae runs the encoder on the visible tokens only, which relative position tables cannot index: set model.rel_pos_bias none (MAE's encoder uses model.pos_embed sincos)")
        }
        if m.decoderEmbedDim % m.decoderNumHeads != 0 {
            try fail("method.decoder_embed_dim \(m.decoderEmbedDim) is not divisible by method.decoder_num_heads \(m.decoderNumHeads)")
        }
        if m.decoderEmbedDim % 4 != 0 {
            try fail("method.decoder_embed_dim \(m.decoderEmbedDim) must be divisible by 4 (2-D sin-cos decoder positions)")
        }
        let k = vit.numPatches, kept = keepCount(tokens: k, ratio: m.maeMaskRatio)
        if kept < 1 || kept >= k {
            try fail("method.mae_mask_ratio \(m.maeMaskRatio) keeps \(kept) of \(k) tokens; it must keep at least one and hide at least one")
        }
        if m.normPixLoss && vit.patchDim < 2 {
            try fail("method.norm_pix_loss needs at least 2 values per patch (model.patch_size² · model.in_chans), got \(vit.patchDim)")
        }
    }

    /// MAE's `len_keep = int(L * (1 - mask_ratio))`.
    public static func keepCount(tokens k: Int, ratio: Double) -> Int { Int(Double(k) * (1 - ratio)) }

    /// Builds the model; `vit` and `method` must be valid (`Objectives.make` checks them).
    public init(vit: ViTConfig, method: MethodConfig) {
        self.vit = vit
        self.method = method
        let dd = method.decoderEmbedDim
        keep = MAE.keepCount(tokens: vit.numPatches, ratio: method.maeMaskRatio)
        encoder = VisionTransformer(config: vit, params: params, prefix: "encoder.")
        decoderEmbed = Linear(params, "decoder_embed", inFeatures: vit.embedDim, outFeatures: dd)
        maskToken = params.add("mask_token", shape: [1, 1, dd])
        let store = params
        decoderBlocks = (0..<method.decoderDepth).map { i in
            Block(store, "decoder_blocks.\(i)", dim: dd, heads: method.decoderNumHeads, mlpRatio: vit.mlpRatio,
                  layerScale: false, dropPath: 0, perBlockGrid: nil)
        }
        decoderNorm = LayerNorm(params, "decoder_norm", dim: dd)
        decoderPred = Linear(params, "decoder_pred", inFeatures: dd, outFeatures: vit.patchDim)
        decoderPosEmbed = VisionTransformer.sincos(dim: dd, grid: vit.gridSize)
        params.allocate()
    }

    /// The encoder as BEiT; the decoder as MAE: xavier-uniform linear weights, zero biases, LayerNorm 1/0,
    /// mask token normal(0.02).
    public func initialize(rng: inout RNG) {
        encoder.initialize(rng: &rng)
        let p = params
        func xavier(_ l: Linear) {
            let bound = (6 / Double(l.inFeatures + l.outFeatures)).squareRoot()
            p.fill(l.weight) { _ in Float(rng.uniform(-bound, bound)) }
            if let b = l.bias { p.fill(b) { _ in 0 } }
        }
        xavier(decoderEmbed)
        p.fill(maskToken) { _ in Float(rng.normal() * 0.02) }
        for blk in decoderBlocks {
            blk.norm1.initialize(p); blk.norm2.initialize(p)
            xavier(blk.attn.qkv)
            p.fill(blk.attn.qBias) { _ in 0 }; p.fill(blk.attn.vBias) { _ in 0 }
            xavier(blk.attn.proj); xavier(blk.fc1); xavier(blk.fc2)
        }
        decoderNorm.initialize(p)
        xavier(decoderPred)
    }

    // MARK: forward

    public func forward(images: Tensor, batch: Int, training: Bool, rngs: inout [RNG], compute: ComputeContext) -> Double {
        self.batch = batch
        let k = vit.numPatches, l = keep, dd = method.decoderEmbedDim
        let tokens = encoder.embedPatches(images, batch: batch, compute: compute)                     // [B·K, D]
        precondition(rngs.count == batch, "one generator per image: \(rngs.count) for \(batch)")
        randomMasking(batch: batch, rngs: &rngs)
        let visible = TokenSubset(count: l, indices: (0..<batch).flatMap { b in idsShuffle[b * k..<b * k + l] })
        let encoded = encoder.encode(tokens.data, batch: batch, subset: visible, training: training, rngs: &rngs,
                                     compute: compute)                                               // [B·(1+L), D]
        decIn.resize([batch * (1 + l), dd])
        decoderEmbed.forward(params, x: encoded.data, rows: batch * (1 + l), y: decIn.data, compute: compute)
        unshuffle(batch: batch, compute: compute)                                                    // [B·(1+K), Dd]
        let x = forwardDecoder(batch: batch, training: training, rngs: &rngs, compute: compute)
        predIn.resize([batch * k, dd])
        for b in 0..<batch { (predIn.data + b * k * dd).update(from: x + (b * (1 + k) + 1) * dd, count: k * dd) }
        prediction.resize([batch * k, vit.patchDim])
        decoderPred.forward(params, x: predIn.data, rows: batch * k, y: prediction.data, compute: compute)   // [B·K, pd]
        return Profiler.measure("loss") { forwardLoss(compute: compute) }
    }

    /// MAE's random_masking: noise [B, K] (image b's row uniform from `rngs[b]`, or `injectedNoise`), ids_shuffle = argsort(noise) per
    /// image (ties by token index), ids_restore = argsort(ids_shuffle).
    func randomMasking(batch: Int, rngs: inout [RNG]) {
        let k = vit.numPatches
        let noise = injectedNoise ?? (0..<batch * k).map { Float(rngs[$0 / k].uniform()) }
        precondition(noise.count == batch * k, "MAE noise has \(noise.count) values, not \(batch)×\(k)")
        idsShuffle = [Int32](repeating: 0, count: batch * k); idsRestore = idsShuffle
        for b in 0..<batch {
            for (rank, t) in MAE.shuffle(noise[(b * k)..<((b + 1) * k)]).enumerated() {
                idsShuffle[b * k + rank] = Int32(t)
                idsRestore[b * k + t] = Int32(rank)
            }
        }
    }

    /// One image's ids_shuffle: its K token indices by ascending noise (ties by index); MAE keeps the first
    /// `keep` visible.
    public static func shuffle(_ noise: ArraySlice<Float>) -> [Int] {
        let o = noise.startIndex
        return noise.indices.map { $0 - o }.sorted { (noise[o + $0], $0) < (noise[o + $1], $1) }
    }

    /// decX [B·(1+K), Dd]: per image the embedded cls row, then in raster order each token's embedded visible
    /// row or the mask token, plus the fixed positions (MAE: cat mask tokens, gather ids_restore, + pos).
    private func unshuffle(batch: Int, compute: ComputeContext) {
        let k = vit.numPatches, l = keep, dd = method.decoderEmbedDim
        decX.resize([batch * (1 + k), dd])
        let src = UnsafePointer(decIn.data), dst = decX.data, pos = UnsafePointer(decoderPosEmbed.data)
        let mask = UnsafePointer(params.value(maskToken)), restore = idsRestore
        compute.forEach(batch) { b in
            let out = dst + b * (1 + k) * dd, visible = src + b * (1 + l) * dd
            out.update(from: visible, count: dd)
            for t in 0..<k {
                let r = Int(restore[b * k + t]), row = out + (1 + t) * dd
                row.update(from: r < l ? visible + (1 + r) * dd : mask, count: dd)
                Vec.add(pos + (1 + t) * dd, into: row, count: dd)
            }
        }
    }

    /// decoder_blocks then decoder_norm on decX; returns the normed rows [B·(1+K), Dd].
    private func forwardDecoder(batch: Int, training: Bool, rngs: inout [RNG], compute: ComputeContext) -> UnsafePointer<Float> {
        let n = 1 + vit.numPatches, rows = batch * n
        var x = UnsafePointer(decX.data)
        for blk in decoderBlocks {
            blk.forward(params, x: x, batch: batch, tokens: n, sharedBias: nil, training: training, rngs: &rngs, scratch: scratch,
                        compute: compute)
            x = UnsafePointer(blk.output.data)
        }
        decNormOut.resize([rows, method.decoderEmbedDim]); normMean.resize([rows]); normRstd.resize([rows])
        decoderNorm.forward(params, x: x, rows: rows, y: decNormOut.data, mean: normMean.data, rstd: normRstd.data, compute: compute)
        return UnsafePointer(decNormOut.data)
    }

    /// MAE's forward_loss: per masked patch the mean of (target − Ŷ)² over its pd values, averaged over the
    /// masked patches = Σ_masked E² / (masked · pd). Targets are the normalized pixels, per patch
    /// (t − mean)/√(var + 1e-6) with the unbiased variance under `norm_pix_loss`. Leaves dL/dŶ in dPrediction.
    private func forwardLoss(compute: ComputeContext) -> Double {
        let k = vit.numPatches, pd = vit.patchDim, rows = batch * k, l = keep
        lossError.resize([rows, pd]); dPrediction.resize([rows, pd])
        let e = lossError.data, t = UnsafePointer(encoder.patches.data), y = UnsafePointer(prediction.data)
        let restore = idsRestore, normPix = method.normPixLoss
        compute.forChunks(rows, minChunk: 64) { range in
            for r in range {
                let er = e + r * pd
                guard restore[r] >= l else { er.update(repeating: 0, count: pd); continue }
                er.update(from: t + r * pd, count: pd)
                if normPix { MAE.normalizePatch(er, count: pd) }
                Vec.axpy(-1, y + r * pd, er, count: pd)
            }
        }
        let count = Double(batch * (k - l) * pd)
        let sum = ReconstructionLoss.lossAndGradient(e, rows: rows, cols: pd, l1: false, scale: Float(1 / count),
                                                     into: dPrediction.data, compute: compute)
        return sum / count
    }

    /// x ← (x − mean)/√(var + 1e-6), var unbiased (torch's `var`), statistics in Double.
    static func normalizePatch(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        let (mean, std) = patchStatistics(x, count: n)
        let rstd = 1 / std
        for j in 0..<n { x[j] = Float((Double(x[j]) - mean) * rstd) }
    }

    /// The mean and √(var + 1e-6) (unbiased var) of one target patch: norm_pix_loss's statistics.
    static func patchStatistics(_ x: UnsafePointer<Float>, count n: Int) -> (mean: Double, std: Double) {
        var mean = 0.0
        for j in 0..<n { mean += Double(x[j]) }
        mean /= Double(n)
        var v = 0.0
        for j in 0..<n { v += (Double(x[j]) - mean) * (Double(x[j]) - mean) }
        return (mean, (v / Double(n - 1) + 1e-6).squareRoot())
    }

    // MARK: backward

    public func backward(lossScale: Float = 1, compute: ComputeContext) {
        let k = vit.numPatches, l = keep, d = vit.embedDim, dd = method.decoderEmbedDim, n = 1 + k, rows = batch * n
        if lossScale != 1 { for i in 0..<dPrediction.count { dPrediction[i] *= lossScale } }
        dPredIn.resize([batch * k, dd])
        decoderPred.backward(params, dy: dPrediction.data, x: predIn.data, rows: batch * k, dx: dPredIn.data, compute: compute)
        // decoder_norm's dy [B·(1+K), Dd]: the cls rows got no gradient.
        dDec.resize([rows, dd]); dDecOther.resize([rows, dd]); dDecOther.zero()
        for b in 0..<batch { (dDecOther.data + (b * n + 1) * dd).update(from: dPredIn.data + b * k * dd, count: k * dd) }
        let lastOut = UnsafePointer(decoderBlocks.last!.output.data)
        decoderNorm.backward(params, dy: dDecOther.data, x: lastOut, rows: rows, mean: normMean.data, rstd: normRstd.data,
                             dx: dDec.data, accumulate: false, compute: compute)
        var cur = dDec, nxt = dDecOther
        for blk in decoderBlocks.reversed() {
            blk.backward(params, dOut: cur.data, batch: batch, tokens: n, sharedBias: nil, sharedBiasGrad: nil, scratch: scratch,
                         dx: nxt.data, compute: compute)
            swap(&cur, &nxt)
        }
        // Unshuffle backward: visible rows back to their encoder rows, hidden rows into the mask token
        // (images in order, so the sum is the same for any thread count).
        dDecIn.resize([batch * (1 + l), dd])
        let g = UnsafePointer(cur.data), gin = dDecIn.data, gm = params.grad(maskToken)
        for b in 0..<batch {
            let src = g + b * n * dd, visible = gin + b * (1 + l) * dd
            visible.update(from: src, count: dd)
            for t in 0..<k {
                let r = Int(idsRestore[b * k + t]), row = src + (1 + t) * dd
                if r < l { (visible + (1 + r) * dd).update(from: row, count: dd) } else { Vec.add(row, into: gm, count: dd) }
            }
        }
        dEncoded.resize([batch * (1 + l), d])
        decoderEmbed.backward(params, dy: dDecIn.data, x: encoder.output.data, rows: batch * (1 + l), dx: dEncoded.data, compute: compute)
        let dTokens = encoder.backwardEncode(dEncoded.data, compute: compute)    // [B·K, D], hidden rows zero
        encoder.backwardPatches(dTokens.data, compute: compute)
    }

    // MARK: pictures

    public func views(image b: Int) -> ObjectiveViews {
        let k = vit.numPatches
        return .masking(hidden: (0..<k).map { Int(idsRestore[b * k + $0]) >= keep })
    }

    public var pictureTitles: [String] { ["original x", "visible input", "output y^", "visible+y^", "|x-y^| masked"] }

    /// With norm_pix_loss the decoder predicts each patch normalized by its own target's mean and std: the
    /// pictures show it un-normalized with those statistics, ŷ·√(var + 1e-6) + mean (as MAE's visualization
    /// demo does), so the loss on a hidden patch is the pictured error divided by that patch's std.
    public var picturePrediction: [Float] {
        var y = prediction.array
        guard method.normPixLoss else { return y }
        let pd = vit.patchDim
        let t = encoder.patches
        precondition(t.count == y.count, "picturePrediction needs the last forward's targets")
        for r in 0..<(y.count / pd) {
            let (mean, std) = MAE.patchStatistics(UnsafePointer(t.data) + r * pd, count: pd)
            for j in (r * pd)..<((r + 1) * pd) { y[j] = Float(Double(y[j]) * std + mean) }
        }
        return y
    }
}
