// Multi-head self-attention as BEiT: qkv projection without bias plus learned q and v biases (the k
// bias is fixed at zero), softmax(q·kᵀ/√d + relative position bias)·v, output projection.
// Per (image, head) products are GEMMs that read q, k, v in place from the qkv buffer (strided).

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
    let qkvOut = Tensor(shape: [0])   // [B·N, 3D]
    let context = Tensor(shape: [0])  // [B·N, D] attention output before proj
    // The softmax probabilities [B, H, N, N] are not kept: backward recomputes them from q and k (one
    // extra N×N product per head) instead of holding B·H·N² floats per block.
    let ownBias = Tensor(shape: [0])  // [H, N, N] for per-block tables

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
        qkvOut.resize([rows, 3 * d]); context.resize([rows, d])
        let probs = scratch.probs
        probs.resize([batch, h, n, n])
        qkv.forward(p, x: x, rows: rows, y: qkvOut.data, compute: compute)
        let qb = p.value(qBias), vb = p.value(vBias)
        Profiler.measure("elementwise") {
            let qkvData = qkvOut.data
            compute.forChunks(rows, minChunk: 64) { range in
                for r in range {
                    let row = qkvData + r * 3 * d
                    Vec.add(qb, into: row, count: d)
                    Vec.add(vb, into: row + 2 * d, count: d)
                }
            }
        }
        let bias = resolvedBias(p, shared: sharedBias, tokens: n)
        let probsData = probs.data, ctx = context.data, hd = d / h
        Profiler.measure("attention") { compute.forEach(batch) { b in
            let v0 = qkvOut.data + b * n * 3 * d + 2 * d
            for head in 0..<h {
                let s = probsData + (b * h + head) * n * n
                probabilities(image: b, head: head, tokens: n, bias: bias, into: s)
                // context[:, head] [N, hd] = s v
                let v = v0 + head * hd
                gemmSingle(transA: false, transB: false, m: n, n: hd, k: n, a: s, lda: n, b: v, ldb: 3 * d,
                           c: ctx + b * n * d + head * hd, ldc: d)
            }
        } }
        proj.forward(p, x: context.data, rows: rows, y: y, addBias: addOutputBias, compute: compute)
    }

    /// The relative position bias [H, N, N] in use: this block's own table, the shared one, or none.
    private func resolvedBias(_ p: ParameterStore, shared: UnsafePointer<Float>?, tokens n: Int) -> UnsafePointer<Float>? {
        guard let relPos else { return shared }
        ownBias.resize([heads, n, n])
        relPos.forward(p, bias: ownBias.data)
        return UnsafePointer(ownBias.data)
    }

    /// s [N, N] = softmax(scale · q kᵀ + bias) for one image and head, q and k read in place from qkvOut.
    private func probabilities(image b: Int, head: Int, tokens n: Int, bias: UnsafePointer<Float>?, into s: UnsafeMutablePointer<Float>) {
        let d = dim, hd = d / heads
        let q = qkvOut.data + b * n * 3 * d + head * hd, k = q + d
        gemmSingle(transA: false, transB: true, m: n, n: n, k: hd, alpha: 1 / Float(hd).squareRoot(), a: q, lda: 3 * d,
                   b: k, ldb: 3 * d, c: s, ldc: n)
        Attention.softmaxRows(s, rows: n, cols: n, adding: bias.map { $0 + head * n * n })
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
        dqkv.resize([rows, 3 * d]); dContext.resize([rows, d]); dScores.resize([batch, h, n, n])
        proj.backward(p, dy: dy, x: context.data, rows: rows, dx: dContext.data, biasGradDone: outputBiasGradDone, compute: compute)
        let qkvData = qkvOut.data, dqkvData = dqkv.data, probsData = probs.data, dsData = dScores.data, dctx = dContext.data
        Profiler.measure("attention") { compute.forEach(batch) { b in
            let base = qkvData + b * n * 3 * d, dbase = dqkvData + b * n * 3 * d
            for head in 0..<h {
                let s = probsData + (b * h + head) * n * n, ds = dsData + (b * h + head) * n * n
                probabilities(image: b, head: head, tokens: n, bias: bias, into: s)
                let q = base + head * hd, k = base + d + head * hd, v = base + 2 * d + head * hd
                let dO = dctx + b * n * d + head * hd
                // dP [N, N] = dO vᵀ ; dv = Pᵀ dO
                gemmSingle(transA: false, transB: true, m: n, n: n, k: hd, a: dO, lda: d, b: v, ldb: 3 * d, c: ds, ldc: n)
                gemmSingle(transA: true, transB: false, m: n, n: hd, k: n, a: s, lda: n, b: dO, ldb: d,
                     c: dbase + 2 * d + head * hd, ldc: 3 * d)
                Attention.softmaxBackwardRows(probs: s, grad: ds, rows: n, cols: n)
                // dq = scale · dS k ; dk = scale · dSᵀ q
                gemmSingle(transA: false, transB: false, m: n, n: hd, k: n, alpha: scale, a: ds, lda: n, b: k, ldb: 3 * d,
                           c: dbase + head * hd, ldc: 3 * d)
                gemmSingle(transA: true, transB: false, m: n, n: hd, k: n, alpha: scale, a: ds, lda: n, b: q, ldb: 3 * d,
                           c: dbase + d + head * hd, ldc: 3 * d)
            }
        } }
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
            // dq_bias, dv_bias: column sums of the q and v thirds of dqkv (the k bias is fixed at zero).
            let sums = scratch.biasGrad
            sums.resize([3 * d]); sums.zero()
            Vec.addColumnSums(dqkv.data, rows: rows, cols: 3 * d, into: sums.data, compute: compute)
            Vec.add(sums.data, into: p.grad(qBias), count: d)
            Vec.add(sums.data + 2 * d, into: p.grad(vBias), count: d)
        }
        qkv.backward(p, dy: dqkv.data, x: x, rows: rows, dx: dx, accumulate: accumulate, compute: compute)
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
    let dqkv = Tensor(shape: [0])        // [B·N, 3D]
    let dContext = Tensor(shape: [0])    // [B·N, D]
    let dScores = Tensor(shape: [0])     // [B, H, N, N]
    let probs = Tensor(shape: [0])       // [B, H, N, N] softmax (forward; recomputed in backward)
    let biasGrad = Tensor(shape: [0])    // [3D]
    public init() {}
}
