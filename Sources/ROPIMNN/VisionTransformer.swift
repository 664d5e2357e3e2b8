// The ViT encoder (BEiT flavour) with forward and backward split at the patch tokens, so a
// corruption (ROPIM's projection, SimMIM's mask) can act between patch embedding and the blocks:
//   images [B,C,H,W] → embedPatches → tokens [B,K,D] → (corruption) → encode → [B,N,D] (final norm)

import Foundation
import ROPIMKernels

public final class VisionTransformer {
    public let config: ViTConfig
    public let params: ParameterStore
    public let prefix: String
    public let patchEmbed: Linear
    public let clsToken: ParamRef
    public let posEmbed: ParamRef?                 // learned
    public let fixedPosEmbed: Tensor?              // sincos [N, D]
    public let sharedRelPos: RelativePositionBias?
    public let blocks: [Block]
    /// The final LayerNorm; nil when built with `finalNorm: false` (BEiT fine-tuning with mean pooling
    /// replaces it by fc_norm after pooling, so the encoder then ends at the last block).
    public let norm: LayerNorm?
    let scratch = BlockScratch()

    // Saved activations.
    /// The patchified input [B·K, C·p·p] of the last embedPatches (also the reconstruction target).
    public let patches = Tensor(shape: [0])
    public let tokens = Tensor(shape: [0])  // [B·K, D]
    let x0 = Tensor(shape: [0])           // [B·N, D] after cls + pos
    let sharedBias = Tensor(shape: [0])   // [H, N, N]
    let sharedBiasGrad = Tensor(shape: [0])
    let normMean = Tensor(shape: [0]), normRstd = Tensor(shape: [0])
    public let output = Tensor(shape: [0])  // [B·N, D]
    let dx = Tensor(shape: [0]), dTokens = Tensor(shape: [0])
    public private(set) var batch = 0
    /// The token subset of the last `encode` (nil = every token).
    public private(set) var subset: TokenSubset?

    /// Registers the encoder's parameters under `prefix` (e.g. "encoder." for the SimMIM layout).
    /// `finalNorm: false` leaves out the final LayerNorm (`output` is then the last block's output).
    public init(config: ViTConfig, params: ParameterStore, prefix: String = "", finalNorm: Bool = true) {
        self.config = config
        self.params = params
        self.prefix = prefix
        let d = config.embedDim, g = config.gridSize
        clsToken = params.add(prefix + "cls_token", shape: [1, 1, d])
        posEmbed = config.posEmbed == .learned ? params.add(prefix + "pos_embed", shape: [1, config.numTokens, d]) : nil
        fixedPosEmbed = config.posEmbed == .sincos ? VisionTransformer.sincos(dim: d, grid: g) : nil
        patchEmbed = Linear(params, prefix + "patch_embed.proj", inFeatures: config.patchDim, outFeatures: d,
                            weightShape: [d, config.inChans, config.patchSize, config.patchSize])
        sharedRelPos = config.relPosBias == .shared
            ? RelativePositionBias(params, prefix + "rel_pos_bias.relative_position_bias_table", gridHeight: g, gridWidth: g, heads: config.numHeads)
            : nil
        let perBlock: (Int, Int)? = config.relPosBias == .perBlock ? (g, g) : nil
        blocks = (0..<config.depth).map { i in
            let rate = config.depth > 1 ? config.dropPathRate * Double(i) / Double(config.depth - 1) : 0
            return Block(params, prefix + "blocks.\(i)", dim: d, heads: config.numHeads, mlpRatio: config.mlpRatio,
                         layerScale: config.layerScaleInit > 0, dropPath: Float(rate), perBlockGrid: perBlock)
        }
        norm = finalNorm ? LayerNorm(params, prefix + "norm", dim: d) : nil
    }

    /// BEiT/timm initialization: truncated normal (std initStd, bounds ±2 absolute) for linear weights,
    /// cls and learned pos embed; zero biases and relative tables; LayerNorm 1/0; LayerScale γ = init;
    /// attn.proj and mlp.fc2 weights divided by √(2·layer); the patch-embedding conv keeps torch's
    /// default (uniform ±1/√fan_in for weight and bias).
    public func initialize(rng: inout RNG) {
        let p = params, std = config.initStd
        func trunc(_ r: ParamRef, divide: Double = 1) { p.fill(r) { _ in Float(rng.truncatedNormal(std: std) / divide) } }
        trunc(clsToken)
        if let posEmbed { trunc(posEmbed) }
        let bound = 1 / Double(config.patchDim).squareRoot()
        p.fill(patchEmbed.weight) { _ in Float(rng.uniform(-bound, bound)) }
        p.fill(patchEmbed.bias!) { _ in Float(rng.uniform(-bound, bound)) }
        if let sharedRelPos { p.fill(sharedRelPos.table) { _ in 0 } }
        for (i, blk) in blocks.enumerated() {
            let rescale = (2.0 * Double(i + 1)).squareRoot()
            blk.norm1.initialize(p); blk.norm2.initialize(p)
            trunc(blk.attn.qkv.weight)
            p.fill(blk.attn.qBias) { _ in 0 }; p.fill(blk.attn.vBias) { _ in 0 }
            trunc(blk.attn.proj.weight, divide: rescale); p.fill(blk.attn.proj.bias!) { _ in 0 }
            if let rp = blk.attn.relPos { p.fill(rp.table) { _ in 0 } }
            trunc(blk.fc1.weight); p.fill(blk.fc1.bias!) { _ in 0 }
            trunc(blk.fc2.weight, divide: rescale); p.fill(blk.fc2.bias!) { _ in 0 }
            let g = Float(config.layerScaleInit)
            if let g1 = blk.gamma1 { p.fill(g1) { _ in g } }
            if let g2 = blk.gamma2 { p.fill(g2) { _ in g } }
        }
        norm?.initialize(p)
    }

    // MARK: patch embedding

    /// tokens [B·K, D] = patchify(images [B, C, H, W]) · Wᵀ + b
    @discardableResult
    public func embedPatches(_ imgs: Tensor, batch: Int, compute: ComputeContext) -> Tensor {
        let c = config, k = c.numPatches
        precondition(imgs.count == batch * c.inChans * c.imgSize * c.imgSize, "images \(imgs.shape) do not match config")
        self.batch = batch
        patches.resize([batch * k, c.patchDim])
        tokens.resize([batch * k, c.embedDim])
        Patches.patchify(imgs.data, batch: batch, channels: c.inChans, height: c.imgSize, width: c.imgSize,
                         patch: c.patchSize, into: patches.data, compute: compute)
        patchEmbed.forward(params, x: patches.data, rows: batch * k, y: tokens.data, compute: compute)
        return tokens
    }

    /// Accumulates patch-embedding grads from dTokens [B·K, D].
    public func backwardPatches(_ dTok: UnsafePointer<Float>, compute: ComputeContext) {
        patchEmbed.backward(params, dy: dTok, x: patches.data, rows: batch * config.numPatches, dx: nil, compute: compute)
    }

    // MARK: transformer

    /// output [B·N, D] = norm(blocks(cls ⊕ tokens + pos)) (no norm when built without one); tok is [B·K, D].
    /// With a `subset` (MAE's visible tokens) the encoder runs on cls ⊕ the chosen tokens only: it reads
    /// rows `subset.indices` of `tok` in place (no gathered copy), adds their own position rows, and
    /// `output` is [B·(1 + subset.count), D]. Subsets need `rel_pos_bias: none` (the tables assume the full grid).
    /// Training with drop path draws image b's masks from `rngs[b]` (see `Block.forward`).
    @discardableResult
    public func encode(_ tok: UnsafePointer<Float>, batch: Int, subset: TokenSubset? = nil, training: Bool, rngs: inout [RNG],
                       compute: ComputeContext) -> Tensor {
        let c = config, d = c.embedDim, k = c.numPatches
        precondition(subset == nil || c.relPosBias == .none, "a token subset needs model.rel_pos_bias none")
        let n = subset.map { 1 + $0.count } ?? c.numTokens, rows = batch * n
        self.batch = batch
        self.subset = subset
        x0.resize([rows, d]); output.resize([rows, d])
        normMean.resize([rows]); normRstd.resize([rows])
        let cls = params.value(clsToken), pos = posEmbed.map { UnsafePointer(params.value($0)) }
        let fixedPos = fixedPosEmbed.map { UnsafePointer($0.data) }, x0Data = x0.data
        if let subset {
            compute.forEach(batch) { b in
                let dst = x0Data + b * n * d
                dst.update(from: cls, count: d)
                if let pos { Vec.add(pos, into: dst, count: d) }
                if let fixedPos { Vec.add(fixedPos, into: dst, count: d) }
                for j in 0..<subset.count {
                    let t = Int(subset.indices[b * subset.count + j]), row = dst + (1 + j) * d
                    row.update(from: tok + (b * k + t) * d, count: d)
                    if let pos { Vec.add(pos + (1 + t) * d, into: row, count: d) }
                    if let fixedPos { Vec.add(fixedPos + (1 + t) * d, into: row, count: d) }
                }
            }
        } else {
            compute.forEach(batch) { b in
                let dst = x0Data + b * n * d
                dst.update(from: cls, count: d)
                (dst + d).update(from: tok + b * k * d, count: k * d)
                if let pos { Vec.add(pos, into: dst, count: n * d) }
                if let fixedPos { Vec.add(fixedPos, into: dst, count: n * d) }
            }
        }
        var bias: UnsafePointer<Float>? = nil
        if let sharedRelPos {
            sharedBias.resize([c.numHeads, n, n])
            sharedRelPos.forward(params, bias: sharedBias.data)
            bias = UnsafePointer(sharedBias.data)
        }
        var x = UnsafePointer(x0.data)
        for blk in blocks {
            blk.forward(params, x: x, batch: batch, tokens: n, sharedBias: bias, training: training, rngs: &rngs, scratch: scratch,
                        compute: compute)
            x = UnsafePointer(blk.output.data)
        }
        if let norm { norm.forward(params, x: x, rows: rows, y: output.data, mean: normMean.data, rstd: normRstd.data, compute: compute) }
        else { output.data.update(from: x, count: rows * d) }
        return output
    }

    /// `encode` for inference (no drop path): nothing is drawn, so no generator is passed.
    @discardableResult
    public func encode(_ tok: UnsafePointer<Float>, batch: Int, subset: TokenSubset? = nil, compute: ComputeContext) -> Tensor {
        var none: [RNG] = []
        return encode(tok, batch: batch, subset: subset, training: false, rngs: &none, compute: compute)
    }

    /// dTokens [B·K, D] from dOut [B·N, D] (N = 1 + subset.count with a subset: rows of tokens outside the
    /// subset get zero); accumulates every parameter gradient except the patch embedding's.
    @discardableResult
    public func backwardEncode(_ dOut: UnsafePointer<Float>, compute: ComputeContext) -> Tensor {
        let c = config, d = c.embedDim, k = c.numPatches, n = subset.map { 1 + $0.count } ?? c.numTokens, rows = batch * n
        dx.resize([rows, d]); dTokens.resize([batch * k, d])
        let lastOut = blocks.last.map { UnsafePointer($0.output.data) } ?? UnsafePointer(x0.data)
        if let norm {
            norm.backward(params, dy: dOut, x: lastOut, rows: rows, mean: normMean.data, rstd: normRstd.data,
                          dx: dx.data, accumulate: false, compute: compute)
        } else {
            dx.data.update(from: dOut, count: rows * d)
        }
        var biasGrad: UnsafeMutablePointer<Float>? = nil
        if sharedRelPos != nil {
            sharedBiasGrad.resize([c.numHeads, n, n]); sharedBiasGrad.zero()
            biasGrad = sharedBiasGrad.data
        }
        // Each block reads dx (overwritten as scratch) and writes d(input) into scratch.dInput, then swap.
        let other = scratch.dInput
        other.resize([rows, d])
        var cur = dx, nxt = other
        for blk in blocks.reversed() {
            blk.backward(params, dOut: cur.data, batch: batch, tokens: n, sharedBias: sharedRelPos != nil ? UnsafePointer(sharedBias.data) : nil,
                         sharedBiasGrad: biasGrad, scratch: scratch, dx: nxt.data, compute: compute)
            swap(&cur, &nxt)
        }
        if let sharedRelPos { sharedRelPos.backward(params, dbias: sharedBiasGrad.data) }
        let gcls = params.grad(clsToken), gpos = posEmbed.map { params.grad($0) }, g = cur.data, dTok = dTokens.data
        for b in 0..<batch { Vec.add(g + b * n * d, into: gcls, count: d) }
        if let subset {
            dTokens.zero()
            compute.forEach(batch) { b in
                for j in 0..<subset.count {
                    (dTok + (b * k + Int(subset.indices[b * subset.count + j])) * d).update(from: g + (b * n + 1 + j) * d, count: d)
                }
            }
            if let gpos {   // the cls row, then each image's rows into their tokens' rows, images in order
                for b in 0..<batch {
                    Vec.add(g + b * n * d, into: gpos, count: d)
                    for j in 0..<subset.count {
                        Vec.add(g + (b * n + 1 + j) * d, into: gpos + (1 + Int(subset.indices[b * subset.count + j])) * d, count: d)
                    }
                }
            }
            return dTokens
        }
        compute.forEach(batch) { b in (dTok + b * k * d).update(from: g + b * n * d + d, count: k * d) }
        if let gpos {   // each slice of the table summed over the batch in order
            compute.forChunks(n * d, minChunk: 4096) { r in
                for b in 0..<batch { Vec.add(g + b * n * d + r.lowerBound, into: gpos + r.lowerBound, count: r.count) }
            }
        }
        return dTokens
    }

    /// A learned `pos_embed` [1, 1 + G², D] carried to grid G': the G×G patch rows viewed as an image
    /// [G, G, D] are resized bicubically (torch semantics, align_corners=False, as MAE/DeiT's
    /// interpolate_pos_embed) to [G', G', D]; the cls row is kept. Returns [1, 1 + G'², D].
    public static func resizePosEmbed(_ posEmbed: [Float], dim d: Int, from g: Int, to g2: Int) -> [Float] {
        precondition(posEmbed.count == (1 + g * g) * d, "pos_embed has \(posEmbed.count) values, not [1, \(1 + g * g), \(d)]")
        return Array(posEmbed[0..<d]) + Bicubic.resize(Array(posEmbed[d...]), channels: d, from: (g, g), to: (g2, g2))
    }

    /// Fixed 2-D sin-cos table [N, D] (cls row zero): the first D/2 channels encode the column, the
    /// rest the row; each half is [sin(pos·ω), cos(pos·ω)] with ω_i = 10000^(−i/(D/4)) (MAE).
    public static func sincos(dim: Int, grid: Int) -> Tensor {
        let t = Tensor(shape: [grid * grid + 1, dim])
        let quarter = dim / 4
        for gy in 0..<grid {
            for gx in 0..<grid {
                let row = t.data + (1 + gy * grid + gx) * dim
                for (half, pos) in [(0, gx), (1, gy)] {
                    for i in 0..<quarter {
                        let omega = 1 / pow(10000.0, Double(i) / Double(quarter))
                        row[half * 2 * quarter + i] = Float(sin(Double(pos) * omega))
                        row[half * 2 * quarter + quarter + i] = Float(cos(Double(pos) * omega))
                    }
                }
            }
        }
        return t
    }
}

/// The patch tokens an encoder runs on, per image (MAE's visible tokens): `indices[b·count + j]` is the
/// j-th kept token of image b, in 0..<K. Every image keeps `count` tokens.
public struct TokenSubset: Equatable, Sendable {
    public let count: Int
    public let indices: [Int32]
    public init(count: Int, indices: [Int32]) {
        precondition(count >= 1 && indices.count % count == 0, "\(indices.count) indices are not whole images of \(count)")
        self.count = count; self.indices = indices
    }
}
