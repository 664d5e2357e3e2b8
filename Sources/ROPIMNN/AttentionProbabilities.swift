// Reading the attention probabilities of the last forward, for pictures (attention maps, rollout). The forward
// does not keep them (backward recomputes them too); this recomputes them from the q and k each block saved,
// P = softmax(q·kᵀ/√d + relative position bias), with the bias exactly as the forward added it.

import ROPIMKernels

extension Attention {
    /// The softmax probabilities [B, H, N, N] (row = query, column = key; rows sum to 1) of this block's last
    /// forward over `batch` images of `n` tokens. `sharedBias` [H, N, N] is the forward's shared relative
    /// position bias, if the model has one; a per-block table is this block's own.
    public func lastProbabilities(_ p: ParameterStore, batch: Int, tokens n: Int, sharedBias: UnsafePointer<Float>?) -> [Float] {
        let d = dim, h = heads, hd = d / h, rows = batch * n
        precondition(qkvOut.count == 3 * rows * d, "no forward of \(batch)×\(n) tokens to read (qkv holds \(qkvOut.count) values)")
        var own: [Float] = []
        if let relPos {
            own = [Float](repeating: 0, count: h * n * n)
            own.withUnsafeMutableBufferPointer { relPos.forward(p, bias: $0.baseAddress!) }
        }
        let scale = 1 / Float(hd).squareRoot()
        var out = [Float](repeating: 0, count: batch * h * n * n)
        own.withUnsafeBufferPointer { ownBias in
            out.withUnsafeMutableBufferPointer { o in
                let bias = relPos != nil ? ownBias.baseAddress : sharedBias
                for b in 0..<batch {
                    for head in 0..<h {
                        let s = o.baseAddress! + (b * h + head) * n * n
                        // q and k are the first two dense [B·N, D] blocks of qkvOut (Attention.swift).
                        let q = qkvOut.data + b * n * d + head * hd, k = q + rows * d
                        for i in 0..<n {
                            for j in 0..<n {
                                var dot: Float = 0
                                for t in 0..<hd { dot += q[i * d + t] * k[j * d + t] }
                                s[i * n + j] = dot * scale
                            }
                        }
                        Attention.softmaxRows(s, rows: n, cols: n, adding: bias.map { $0 + head * n * n })
                    }
                }
            }
        }
        return out
    }
}

extension VisionTransformer {
    /// Every block's attention probabilities in the last `encode` (all tokens, no subset): [depth] × [B, H, N, N].
    public func lastAttentionProbabilities() -> [[Float]] {
        precondition(subset == nil, "attention maps need an encode over every token")
        let n = config.numTokens
        let shared = sharedRelPos != nil ? UnsafePointer(sharedBias.data) : nil
        return blocks.map { $0.attn.lastProbabilities(params, batch: batch, tokens: n, sharedBias: shared) }
    }
}
