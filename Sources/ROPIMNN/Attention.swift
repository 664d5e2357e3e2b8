// Multi-head self-attention as BEiT: qkv projection without bias plus learned q and v biases (the k
// bias is fixed at zero), softmax(q·kᵀ/√d + relative position bias)·v, output projection.
// The qkv projection writes q, k and v as three dense [B·N, D] blocks; the per-head products read them in
// place as [B, H, N, hd] (strides N·D, hd, D, 1) and run as batched matmul primitives over a group of
// images × all heads at a time (`HeadProducts`), the group sized so its N×N scores stay in cache.

import Foundation
import ROPIMKernels

public final class Attention {
    public let dim: Int
    public let heads: Int
    public let qkv: Linear
    public let qBias: ParamRef
    public let vBias: ParamRef
    public let proj: Linear
    /// Present when this block owns its relative position table (per-block mode).
    public let relPos: RelativePositionBias?

    // Saved for backward.
    let qkvOut = Tensor(shape: [0])   // [3, B·N, D]: q, k, v (q and v with their biases)
    let context = Tensor(shape: [0])  // [B·N, D] attention output before proj
    // The softmax probabilities [B, H, N, N] are not kept per block: backward recomputes them from q and k
    // (one extra N×N product per head) instead of holding B·H·N² floats per block. After a forward,
    // `AttentionScratch.probs` holds this forward's probabilities until the next block's forward.
    let ownBias = Tensor(shape: [0])  // [H, N, N] for per-block tables
    /// Bytes of scores one batched head-product group may hold (`HeadProducts.groupImages`); tests lower it
    /// to walk several groups per thread.
    var groupBytes = HeadProducts.defaultGroupBytes

    public init(_ params: ParameterStore, _ name: String, dim: Int, heads: Int, perBlockGrid: (Int, Int)?) {
        precondition(dim % heads == 0, "embed dim \(dim) is not divisible by \(heads) heads")
        self.dim = dim
        self.heads = heads
        qkv = Linear(params, "\(name).qkv", inFeatures: dim, outFeatures: 3 * dim, bias: false)
        qBias = params.add("\(name).q_bias", shape: [dim])
        vBias = params.add("\(name).v_bias", shape: [dim])
        proj = Linear(params, "\(name).proj", inFeatures: dim, outFeatures: dim)
        if let (gh, gw) = perBlockGrid {
            relPos = RelativePositionBias(params, "\(name).relative_position_bias_table", gridHeight: gh, gridWidth: gw, heads: heads)
        } else {
            relPos = nil
        }
    }

    /// y [B·N, D] = Attention(x [B·N, D]); `sharedBias` [H, N, N] if the model uses a shared table.
    /// Without `addOutputBias`, y lacks proj's bias: the caller adds it in its own pass (Block's residual).
    /// `scratch` holds the temporaries (a model shares one across its blocks: `BlockScratch.attention`).
    public func forward(_ p: ParameterStore, x: UnsafePointer<Float>, batch: Int, tokens n: Int,
                        sharedBias: UnsafePointer<Float>?, y: UnsafeMutablePointer<Float>,
                        scratch: AttentionScratch, addOutputBias: Bool = true, compute: ComputeContext) {
        let d = dim, h = heads, rows = batch * n
        qkvOut.resize([3, rows, d]); context.resize([rows, d])
        let probs = scratch.probs
        probs.resize([batch, h, n, n])
        // q, k, v as three dense blocks; q's and v's biases are added by their products (the k bias is zero).
        qkv.forward(p, x: x, rows: rows, y: qkvOut.data, groups: 3, groupBias: [p.value(qBias), nil, p.value(vBias)], compute: compute)
        let bias = resolvedBias(p, shared: sharedBias, tokens: n)
        let q = qkvOut.data, k = q + rows * d, v = k + rows * d, probsData = probs.data, ctx = context.data
        let products = HeadProducts(heads: h, tokens: n, headDim: d / h, groupBytes: groupBytes)
        Profiler.measure("attention") {
            products.forGroups(batch, compute: compute) { images in
                let t = images.lowerBound * n * d, s = probsData + images.lowerBound * h * n * n
                self.probabilities(products, images: images, q: q + t, k: k + t, bias: bias, into: s, compute: compute)
                // context [images, N, H, hd] = P v
                compute.matmuls.run(products.probsTimesHeads(images.count), a: s, b: v + t, c: ctx + t)
            }
        }
        proj.forward(p, x: context.data, rows: rows, y: y, addBias: addOutputBias, compute: compute)
    }

    /// The relative position bias [H, N, N] in use: this block's own table, the shared one, or none.
    private func resolvedBias(_ p: ParameterStore, shared: UnsafePointer<Float>?, tokens n: Int) -> UnsafePointer<Float>? {
        guard let relPos else { return shared }
        ownBias.resize([heads, n, n])
        relPos.forward(p, bias: ownBias.data)
        return UnsafePointer(ownBias.data)
    }

    /// s [images, H, N, N] = softmax(scale · q kᵀ + bias) for a group of images, q and k [images·N, D] read in place.
    private func probabilities(_ products: HeadProducts, images: Range<Int>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                               bias: UnsafePointer<Float>?, into s: UnsafeMutablePointer<Float>, compute: ComputeContext) {
        let n = products.tokens
        compute.matmuls.run(products.scores(images.count, alpha: 1 / Float(products.headDim).squareRoot()), a: q, b: k, c: s)
        for i in 0..<(images.count * heads) {
            Attention.softmaxRows(s + i * n * n, rows: n, cols: n, adding: bias.map { $0 + (i % heads) * n * n })
        }
    }

    /// dx [B·N, D] (= or += when accumulate) from dy; accumulates parameter grads and, for a shared
    /// table, dBias [H, N, N] (summed over the batch). `sharedBias` must be the forward's.
    /// `outputBiasGradDone`: the caller already added Σ dy to proj's bias gradient.
    public func backward(_ p: ParameterStore, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, batch: Int, tokens n: Int,
                         sharedBias: UnsafePointer<Float>?, sharedBiasGrad: UnsafeMutablePointer<Float>?,
                         dx: UnsafeMutablePointer<Float>, accumulate: Bool, scratch: AttentionScratch,
                         outputBiasGradDone: Bool = false, compute: ComputeContext) {
        let d = dim, h = heads, hd = d / h, rows = batch * n
        let dqkv = scratch.dqkv, dContext = scratch.dContext, dScores = scratch.dScores, probs = scratch.probs
        probs.resize([batch, h, n, n])
        let bias = resolvedBias(p, shared: sharedBias, tokens: n)
        let scale = 1 / Float(hd).squareRoot()
        dqkv.resize([3, rows, d]); dContext.resize([rows, d]); dScores.resize([batch, h, n, n])
        proj.backward(p, dy: dy, x: context.data, rows: rows, dx: dContext.data, biasGradDone: outputBiasGradDone, compute: compute)
        let q = qkvOut.data, k = q + rows * d, v = k + rows * d
        let dq = dqkv.data, dk = dq + rows * d, dv = dk + rows * d
        let probsData = probs.data, dsData = dScores.data, dO = dContext.data
        let products = HeadProducts(heads: h, tokens: n, headDim: hd, groupBytes: groupBytes)
        Profiler.measure("attention") {
            products.forGroups(batch, compute: compute) { images in
                let t = images.lowerBound * n * d, offset = images.lowerBound * h * n * n, count = images.count
                let s = probsData + offset, ds = dsData + offset
                self.probabilities(products, images: images, q: q + t, k: k + t, bias: bias, into: s, compute: compute)
                // dP = dO vᵀ ; dv = Pᵀ dO
                compute.matmuls.run(products.scores(count, alpha: 1), a: dO + t, b: v + t, c: ds)
                compute.matmuls.run(products.probsTimesHeads(count, transposed: true), a: s, b: dO + t, c: dv + t)
                Attention.softmaxBackwardRows(probs: s, grad: ds, rows: count * h * n, cols: n)
                // dq = scale · dS k ; dk = scale · dSᵀ q
                compute.matmuls.run(products.probsTimesHeads(count, alpha: scale), a: ds, b: k + t, c: dq + t)
                compute.matmuls.run(products.probsTimesHeads(count, transposed: true, alpha: scale), a: ds, b: q + t, c: dk + t)
            }
        }
        // Bias gradients: dS summed over the batch.
        Profiler.measure("elementwise") {
            if relPos != nil || sharedBiasGrad != nil {
                ownBias.resize([h, n, n])
                let acc = ownBias.data, ds = dScores.data, per = h * n * n
                compute.forChunks(per, minChunk: 4096) { r in   // each slice summed over the batch in order
                    (acc + r.lowerBound).update(repeating: 0, count: r.count)
                    for b in 0..<batch { Vec.add(ds + b * per + r.lowerBound, into: acc + r.lowerBound, count: r.count) }
                }
                if let relPos { relPos.backward(p, dbias: acc) }
                if let sharedBiasGrad { Vec.add(acc, into: sharedBiasGrad, count: h * n * n) }
            }
            // dq_bias, dv_bias: column sums of dq and dv (the k bias is fixed at zero).
            Vec.addColumnSums(dq, rows: rows, cols: d, into: p.grad(qBias), compute: compute)
            Vec.addColumnSums(dv, rows: rows, cols: d, into: p.grad(vBias), compute: compute)
        }
        qkv.backward(p, dy: dqkv.data, x: x, rows: rows, dx: dx, accumulate: accumulate, groups: 3, compute: compute)
    }

    /// Numerically stable in-place softmax of each row of s [rows, cols], after adding `bias` (same shape) if given.
    public static func softmaxRows(_ s: UnsafeMutablePointer<Float>, rows: Int, cols: Int, adding bias: UnsafePointer<Float>? = nil) {
        let body = cols & ~15, tail = cols - body
        let tailMask = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) .< Int32(tail)
        let negInf = Float16x(repeating: -.infinity)
        for i in 0..<rows {
            let r = s + i * cols, b = bias.map { $0 + i * cols }
            // Pass 1: add the bias, take the max (masked selects; pointwiseMax is scalarized).
            var m = negInf
            var j = 0
            while j < body {
                var v = Vec.load(r + j)
                if let b { v += Vec.load(b + j); Vec.store(v, r + j) }
                m = m.replacing(with: v, where: v .> m)
                j += 16
            }
            var last = negInf
            if tail > 0 {
                for t in 0..<tail { last[t] = r[body + t] + (b?[body + t] ?? 0) }
                m = m.replacing(with: last, where: last .> m)
            }
            var mx = m[0]
            for t in 1..<16 where m[t] > mx { mx = m[t] }
            let shift = Float16x(repeating: mx)
            // Pass 2: exponentiate and sum.
            var acc = Float16x(repeating: 0)
            j = 0
            while j < body {
                let e = FastMath.exp(Vec.load(r + j) - shift)
                Vec.store(e, r + j)
                acc += e
                j += 16
            }
            if tail > 0 { last = FastMath.exp(last - shift).replacing(with: 0, where: .!tailMask); acc += last }
            // Pass 3: normalize.
            let inv = Float16x(repeating: 1 / Vec.hsum(acc))
            j = 0
            while j < body { Vec.store(Vec.load(r + j) * inv, r + j); j += 16 }
            if tail > 0 { last *= inv; for t in 0..<tail { r[body + t] = last[t] } }
        }
    }

    /// Softmax backward in place: dS = P ⊙ (dP − Σ_j dP·P), row by row; grad holds dP on entry.
    public static func softmaxBackwardRows(probs: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        let body = cols & ~15
        for i in 0..<rows {
            let pr = probs + i * cols, dr = grad + i * cols
            var acc = Float16x(repeating: 0)
            var j = 0
            while j < body { acc = acc.addingProduct(Vec.load(pr + j), Vec.load(dr + j)); j += 16 }
            var dot = Vec.hsum(acc)
            while j < cols { dot = dot.addingProduct(pr[j], dr[j]); j += 1 }
            let dv = Float16x(repeating: dot)
            j = 0
            while j < body { Vec.store(Vec.load(pr + j) * (Vec.load(dr + j) - dv), dr + j); j += 16 }
            while j < cols { dr[j] = pr[j] * (dr[j] - dot); j += 1 }
        }
    }
}

/// Backward temporaries of attention, shared by all blocks of a model (only one block runs backward at a time).
public final class AttentionScratch {
    let dqkv = Tensor(shape: [0])        // [3, B·N, D]: dq, dk, dv
    let dContext = Tensor(shape: [0])    // [B·N, D]
    let dScores = Tensor(shape: [0])     // [B, H, N, N]
    let probs = Tensor(shape: [0])       // [B, H, N, N] softmax (forward; recomputed in backward)
    public init() {}
}

/// The per-head products of attention as batched matmul shapes over [images, H]: heads are read in place
/// from dense [images·N, D] blocks (q, k, v, the context and their gradients: strides N·D, hd, D, 1, which
/// oneDNN's fast kernel takes as a permuted dense layout), scores are dense [images, H, N, N].
public struct HeadProducts {
    public let heads: Int, tokens: Int, headDim: Int
    /// Images per batched call: as many as keep one group's H·N² scores within `groupBytes` (in cache between
    /// the product that writes them, the softmax and the product that reads them), at least one.
    public let groupBytes: Int

    /// 1 MiB: half of this machine's per-core L2 (docs/ARCHITECTURE.md's bench notes).
    public static let defaultGroupBytes = 1 << 20

    public init(heads: Int, tokens: Int, headDim: Int, groupBytes: Int = defaultGroupBytes) {
        self.heads = heads; self.tokens = tokens; self.headDim = headDim; self.groupBytes = groupBytes
    }

    public var groupImages: Int { Swift.max(1, groupBytes / Swift.max(1, heads * tokens * tokens * MemoryLayout<Float>.stride)) }

    private var headStrides: [Int] { [tokens * heads * headDim, headDim, heads * headDim, 1] }
    private var scoreStrides: [Int] { [heads * tokens * tokens, tokens * tokens, tokens, 1] }

    /// S [images, H, N, N] = alpha · A Bᵀ with A, B [images, H, N, hd] (q kᵀ; dO vᵀ).
    public func scores(_ images: Int, alpha: Float) -> MatmulShape {
        let hs = headStrides
        return MatmulShape(batch: [images, heads], m: tokens, n: tokens, k: headDim, aStrides: hs,
                           bStrides: [hs[0], hs[1], 1, hs[2]], cStrides: scoreStrides, alpha: alpha)
    }

    /// C [images, H, N, hd] = alpha · op(S) B with S [images, H, N, N] (transposed: Sᵀ), B [images, H, N, hd]
    /// (P v; Pᵀ dO; dS k; dSᵀ q).
    public func probsTimesHeads(_ images: Int, transposed: Bool = false, alpha: Float = 1) -> MatmulShape {
        let ss = scoreStrides
        return MatmulShape(batch: [images, heads], m: tokens, n: headDim, k: tokens,
                           aStrides: transposed ? [ss[0], ss[1], 1, tokens] : ss, bStrides: headStrides, cStrides: headStrides,
                           alpha: alpha)
    }

    /// Runs body(images) over 0..<batch: one contiguous range of images per thread, walked in groups of
    /// `groupImages` (each body call one group).
    public func forGroups(_ batch: Int, compute: ComputeContext, _ body: (Range<Int>) -> Void) {
        let group = groupImages
        compute.forChunks(batch) { r in
            var lo = r.lowerBound
            while lo < r.upperBound {
                let hi = Swift.min(lo + group, r.upperBound)
                body(lo..<hi)
                lo = hi
            }
        }
    }
}
