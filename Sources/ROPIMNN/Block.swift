// One pre-LayerNorm transformer block (BEiT):
//   x1 = x  + drop_path(γ1 ⊙ attn(norm1(x)))
//   x2 = x1 + drop_path(γ2 ⊙ mlp(norm2(x1))),   mlp = fc2(GELU(fc1(·)))
// γ (LayerScale) is optional; drop path zeroes a whole sample's branch with probability p and
// scales kept samples by 1/(1−p).

import ROPIMKernels

public final class Block {
    public let dim: Int
    public let hidden: Int
    public let norm1: LayerNorm
    public let attn: Attention
    public let norm2: LayerNorm
    public let fc1: Linear
    public let fc2: Linear
    public let gamma1: ParamRef?
    public let gamma2: ParamRef?
    public let dropPath: Float

    // Saved activations, rows = B·N. What one elementwise pass can rebuild is not kept: the two
    // LayerNorm outputs (from the input and their row statistics), x1 (= x + branch), GELU(h1).
    /// The input x of the last forward: the caller's buffer (the previous block's output or the
    /// encoder's embedding), which stays untouched until this block's backward.
    var input: UnsafePointer<Float>?
    let mean1 = Tensor(shape: [0]), rstd1 = Tensor(shape: [0])
    let attnOut = Tensor(shape: [0])     // attention branch before proj's bias (the residual pass adds it)
    let mean2 = Tensor(shape: [0]), rstd2 = Tensor(shape: [0])
    let h1 = Tensor(shape: [0])          // fc1 output (bias included); backward reuses it as scratch, so
                                         // each forward allows one backward
    let mlpOut = Tensor(shape: [0])      // MLP branch before fc2's bias
    public let output = Tensor(shape: [0])
    /// Per-sample branch multipliers of the last forward (0 or 1/(1−p)); all 1 when not dropping.
    var keep1: [Float] = [], keep2: [Float] = []

    public init(_ params: ParameterStore, _ name: String, dim: Int, heads: Int, mlpRatio: Double,
                layerScale: Bool, dropPath: Float, perBlockGrid: (Int, Int)?) {
        self.dim = dim
        hidden = Int(Double(dim) * mlpRatio)
        self.dropPath = dropPath
        // Registration order follows timm's BEiT state dict: gamma_1, gamma_2, norm1, attn, norm2, mlp.
        gamma1 = layerScale ? params.add("\(name).gamma_1", shape: [dim]) : nil
        gamma2 = layerScale ? params.add("\(name).gamma_2", shape: [dim]) : nil
        norm1 = LayerNorm(params, "\(name).norm1", dim: dim)
        attn = Attention(params, "\(name).attn", dim: dim, heads: heads, perBlockGrid: perBlockGrid)
        norm2 = LayerNorm(params, "\(name).norm2", dim: dim)
        fc1 = Linear(params, "\(name).mlp.fc1", inFeatures: dim, outFeatures: hidden)
        fc2 = Linear(params, "\(name).mlp.fc2", inFeatures: hidden, outFeatures: dim)
    }

    /// output [B·N, D] = Block(x [B·N, D]). With training and dropPath > 0, image b draws its two drop-path
    /// masks from `rngs[b]` (one generator per image); otherwise nothing is drawn and `rngs` may be empty.
    public func forward(_ p: ParameterStore, x: UnsafePointer<Float>, batch: Int, tokens n: Int,
                        sharedBias: UnsafePointer<Float>?, training: Bool, rngs: inout [RNG], scratch: BlockScratch,
                        compute: ComputeContext) {
        let rows = batch * n, d = dim
        for t in [attnOut, mlpOut, output] { t.resize([rows, d]) }
        for t in [mean1, rstd1, mean2, rstd2] { t.resize([rows]) }
        h1.resize([rows, hidden])
        scratch.reserve(rows: rows, dim: d, hidden: hidden)
        let h1Act = scratch.activation, ln1 = scratch.normed, ln2 = scratch.normed, x1 = scratch.x1
        input = x
        keep1 = Block.drawKeep(batch: batch, p: training ? dropPath : 0, rngs: &rngs)
        keep2 = Block.drawKeep(batch: batch, p: training ? dropPath : 0, rngs: &rngs)

        norm1.forward(p, x: x, rows: rows, y: ln1.data, mean: mean1.data, rstd: rstd1.data, compute: compute)
        attn.forward(p, x: ln1.data, batch: batch, tokens: n, sharedBias: sharedBias, y: attnOut.data, scratch: scratch.attention,
                     addOutputBias: false, compute: compute)
        // x1 and LN2(x1) in one pass: each row of x1 is normalized while it is in cache.
        residual(x, branch: attnOut.data, bias: attn.proj.bias, gamma: gamma1, keep: keep1, batch: batch, tokens: n, p: p, out: x1.data,
                 norm: .forward(norm2, y: ln2.data, mean: mean2.data, rstd: rstd2.data), compute: compute)
        fc1.forward(p, x: ln2.data, rows: rows, y: h1.data, addBias: false, compute: compute)
        GELU.forward(h1.data, addingBias: fc1.bias.map { UnsafePointer(p.value($0)) }, into: h1Act.data, rows: rows, cols: hidden,
                     compute: compute)
        fc2.forward(p, x: h1Act.data, rows: rows, y: mlpOut.data, addBias: false, compute: compute)
        residual(x1.data, branch: mlpOut.data, bias: fc2.bias, gamma: gamma2, keep: keep2, batch: batch, tokens: n, p: p, out: output.data,
                 compute: compute)
    }

    /// dx [B·N, D] from dOut (which this call overwrites as scratch). `scratch` provides the
    /// [B·N, D] and [B·N, hidden] temporaries shared by all blocks.
    public func backward(_ p: ParameterStore, dOut: UnsafeMutablePointer<Float>, batch: Int, tokens n: Int,
                         sharedBias: UnsafePointer<Float>?, sharedBiasGrad: UnsafeMutablePointer<Float>?,
                         scratch: BlockScratch, dx: UnsafeMutablePointer<Float>, compute: ComputeContext) {
        let rows = batch * n, d = dim
        scratch.reserve(rows: rows, dim: d, hidden: hidden)
        let dBranch = scratch.dBranch.data, dHidden = scratch.dHidden.data, dLN = scratch.dLN.data
        let x1 = scratch.x1, normed = scratch.normed
        // Rebuild x1 and LN2(x1), in one pass.
        residual(input!, branch: attnOut.data, bias: attn.proj.bias, gamma: gamma1, keep: keep1, batch: batch, tokens: n, p: p, out: x1.data,
                 norm: .recompute(norm2, y: normed.data, mean: mean2.data, rstd: rstd2.data), compute: compute)
        // MLP branch: dOut is d(x2) and also the residual part of d(x1).
        branchBackward(dOut, branch: mlpOut.data, bias: fc2.bias, gamma: gamma2, keep: keep2, batch: batch, tokens: n, p: p, dBranch: dBranch,
                       compute: compute)
        GELU.valueAndDerivative(h1.data, value: scratch.activation.data, derivative: dHidden, count: rows * hidden, compute: compute)
        // h1 is dead after the line above: its buffer takes fc2's input gradient.
        fc2.backward(p, dy: dBranch, x: scratch.activation.data, rows: rows, dx: h1.data, biasGradDone: true, compute: compute)
        GELU.backward(h1.data, derivative: dHidden, dHidden, rows: rows, cols: hidden, biasGrad: fc1.bias.map { p.grad($0) }, compute: compute)
        fc1.backward(p, dy: dHidden, x: normed.data, rows: rows, dx: dLN, biasGradDone: true, compute: compute)
        norm2.backward(p, dy: dLN, x: x1.data, rows: rows, mean: mean2.data, rstd: rstd2.data, dx: dOut, accumulate: true, compute: compute)
        // dOut now holds d(x1). Attention branch.
        branchBackward(dOut, branch: attnOut.data, bias: attn.proj.bias, gamma: gamma1, keep: keep1, batch: batch, tokens: n, p: p, dBranch: dBranch,
                       compute: compute)
        norm1.recompute(p, x: input!, rows: rows, mean: mean1.data, rstd: rstd1.data, y: normed.data, compute: compute)
        attn.backward(p, dy: dBranch, x: normed.data, batch: batch, tokens: n, sharedBias: sharedBias,
                      sharedBiasGrad: sharedBiasGrad, dx: dLN, accumulate: false, scratch: scratch.attention, outputBiasGradDone: true,
                      compute: compute)
        dx.update(from: dOut, count: rows * d)
        norm1.backward(p, dy: dLN, x: input!, rows: rows, mean: mean1.data, rstd: rstd1.data, dx: dx, accumulate: true, compute: compute)
    }

    static func drawKeep(batch: Int, p: Float, rngs: inout [RNG]) -> [Float] {
        guard p > 0 else { return [Float](repeating: 1, count: batch) }
        precondition(rngs.count == batch, "drop path needs one generator per image (\(rngs.count) for \(batch))")
        return (0..<batch).map { rngs[$0].bernoulli(Double(p)) ? 0 : 1 / (1 - p) }
    }

    /// What `residual` does with each output row while it is in cache: LayerNorm it (forward: the row's
    /// statistics computed and saved), or rebuild its LayerNorm output from saved statistics (backward).
    /// The same per-row arithmetic as `LayerNorm.forward` / `recompute`, so the bytes do not change.
    enum RowNorm {
        case forward(LayerNorm, y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>)
        case recompute(LayerNorm, y: UnsafeMutablePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>)
    }

    /// out = x + keep[b] · γ ⊙ (branch + bias)   (γ = 1 without LayerScale; the branch's last bias
    /// is added here rather than in its own pass), rows in parallel; with `norm`, then LayerNorm(out) row by row.
    private func residual(_ x: UnsafePointer<Float>, branch: UnsafePointer<Float>, bias: ParamRef?, gamma: ParamRef?,
                          keep: [Float], batch: Int, tokens n: Int, p: ParameterStore, out: UnsafeMutablePointer<Float>,
                          norm: RowNorm? = nil, compute: ComputeContext) {
        let d = dim, body = dim & ~15
        let ones = [Float](repeating: 1, count: d), zeros = [Float](repeating: 0, count: d)
        Profiler.measure("elementwise") {
            ones.withUnsafeBufferPointer { onesBuf in zeros.withUnsafeBufferPointer { zerosBuf in
                let g = gamma.map { UnsafePointer(p.value($0)) } ?? onesBuf.baseAddress!
                let b = bias.map { UnsafePointer(p.value($0)) } ?? zerosBuf.baseAddress!
                compute.forChunks(batch * n, minChunk: 64) { range in
                    for row in range {
                        let k = keep[row / n], kv = Float16x(repeating: k), o = row * d
                        var j = 0
                        while j < body {
                            let v = Vec.load(branch + o + j) + Vec.load(b + j)
                            Vec.store(Vec.load(x + o + j).addingProduct(kv * Vec.load(g + j), v), out + o + j)
                            j += 16
                        }
                        while j < d { out[o + j] = x[o + j].addingProduct(k * g[j], branch[o + j] + b[j]); j += 1 }
                        switch norm {
                        case let .forward(ln, y, mean, rstd)?:
                            (mean[row], rstd[row]) = LayerNorm.forwardRow(out + o, weight: p.value(ln.weight), bias: p.value(ln.bias), dim: d,
                                                                          eps: ln.eps, into: y + o)
                        case let .recompute(ln, y, mean, rstd)?:
                            LayerNorm.normalizeRow(out + o, mean: mean[row], rstd: rstd[row], weight: p.value(ln.weight),
                                                   bias: p.value(ln.bias), dim: d, into: y + o)
                        case nil: break
                        }
                    }
                }
            } }
        }
    }

    /// dBranch = keep ⊙ γ ⊙ dOut ; dγ += Σ keep · dOut ⊙ (branch + bias) ; dbias += Σ dBranch
    /// (`ComputeContext.reduce`: per-chunk partials, then summed in chunk order).
    private func branchBackward(_ dOut: UnsafePointer<Float>, branch: UnsafePointer<Float>, bias: ParamRef?, gamma: ParamRef?,
                                keep: [Float], batch: Int, tokens n: Int, p: ParameterStore, dBranch: UnsafeMutablePointer<Float>,
                                compute: ComputeContext) {
        let d = dim, body = dim & ~15, rows = batch * n
        let ones = [Float](repeating: 1, count: d), zeros = [Float](repeating: 0, count: d)
        Profiler.measure("elementwise") {
            ones.withUnsafeBufferPointer { onesBuf in zeros.withUnsafeBufferPointer { zerosBuf in
                let g = gamma.map { UnsafePointer(p.value($0)) } ?? onesBuf.baseAddress!
                let b = bias.map { UnsafePointer(p.value($0)) } ?? zerosBuf.baseAddress!
                let wantGamma = gamma != nil
                // Per chunk (≥ 64 rows) a partial dγ and dbias.
                compute.reduce(Float.self, rows: rows, cols: d, minChunk: 64 * d, width: 2 * d) { range, dg in
                    let db = dg + d
                    for row in range {
                        let k = keep[row / n], kv = Float16x(repeating: k), o = row * d
                        var j = 0
                        while j < body {
                            let dv = kv * Vec.load(dOut + o + j), dbr = dv * Vec.load(g + j)
                            Vec.store(dbr, dBranch + o + j)
                            Vec.store(Vec.load(db + j) + dbr, db + j)
                            if wantGamma {
                                Vec.store(Vec.load(dg + j).addingProduct(dv, Vec.load(branch + o + j) + Vec.load(b + j)), dg + j)
                            }
                            j += 16
                        }
                        while j < d {
                            let dv = k * dOut[o + j]
                            dBranch[o + j] = dv * g[j]
                            db[j] += dv * g[j]
                            if wantGamma { dg[j] = dg[j].addingProduct(dv, branch[o + j] + b[j]) }
                            j += 1
                        }
                    }
                } combine: { partial in
                    if let gamma { Vec.add(partial, into: p.grad(gamma), count: d) }
                    if let bias { Vec.add(partial + d, into: p.grad(bias), count: d) }
                }
            } }
        }
    }
}

/// Temporaries of forward and backward, shared by all blocks of a model.
public final class BlockScratch {
    let dBranch = Tensor(shape: [0]), dLN = Tensor(shape: [0]), dHidden = Tensor(shape: [0])
    /// GELU(fc1 output): written in forward for fc2, recomputed in backward (memory over one elementwise pass).
    let activation = Tensor(shape: [0])
    /// A LayerNorm output (forward: the block's two; backward: recomputed from the saved statistics).
    let normed = Tensor(shape: [0])
    /// x1 = x + attention branch (forward; rebuilt in backward).
    let x1 = Tensor(shape: [0])
    /// The encoder's second residual-gradient buffer (it ping-pongs between this and its own).
    let dInput = Tensor(shape: [0])
    let attention = AttentionScratch()
    public init() {}
    func reserve(rows: Int, dim: Int, hidden: Int) {
        dBranch.resize([rows, dim]); dLN.resize([rows, dim]); dHidden.resize([rows, hidden])
        activation.resize([rows, hidden])
        normed.resize([rows, dim]); x1.resize([rows, dim])
    }
}
