// LayerNorm over the last axis: y = (x − μ)/√(σ² + eps)·γ + β. Keeps μ and 1/σ per row for backward.

import ROPIMKernels

public struct LayerNorm {
    public let dim: Int
    public let eps: Float
    public let weight: ParamRef
    public let bias: ParamRef

    public init(_ params: ParameterStore, _ name: String, dim: Int, eps: Float = 1e-6) {
        self.dim = dim
        self.eps = eps
        weight = params.add("\(name).weight", shape: [dim])
        bias = params.add("\(name).bias", shape: [dim])
    }

    public func initialize(_ p: ParameterStore) {
        p.fill(weight) { _ in 1 }
        p.fill(bias) { _ in 0 }
    }

    /// y [rows, dim]; mean, rstd [rows] are saved for backward.
    public func forward(_ p: ParameterStore, x: UnsafePointer<Float>, rows: Int, y: UnsafeMutablePointer<Float>,
                        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        let g = p.value(weight), b = p.value(bias), d = dim, eps = eps
        Parallel.forChunks(rows, minChunk: 16) { range in
            for r in range {
                let xr = x + r * d, yr = y + r * d
                var s: Float = 0
                for j in 0..<d { s += xr[j] }
                let mu = s / Float(d)
                var v: Float = 0
                for j in 0..<d { let c = xr[j] - mu; v = v.addingProduct(c, c) }
                let rs = 1 / (v / Float(d) + eps).squareRoot()
                for j in 0..<d { yr[j] = b[j].addingProduct((xr[j] - mu) * rs, g[j]) }
                mean[r] = mu
                rstd[r] = rs
            }
        }
    }

    /// dx [rows, dim] (= or += when accumulate); dγ += Σ dy·x̂; dβ += Σ dy.
    public func backward(_ p: ParameterStore, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
                         mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let g = p.value(weight), d = dim
        let chunks = Swift.min(Parallel.threads, Swift.max(1, rows / 16))
        // Per-chunk partial sums for dγ, dβ so threads never write the same memory.
        let partial = Tensor(shape: [chunks, 2 * d])
        Parallel.forEach(chunks) { c in
            let lo = rows * c / chunks, hi = rows * (c + 1) / chunks
            let dg = partial.data + c * 2 * d, db = dg + d
            for r in lo..<hi {
                let xr = x + r * d, dyr = dy + r * d, dxr = dx + r * d
                let mu = mean[r], rs = rstd[r]
                var sumG: Float = 0, sumGX: Float = 0
                for j in 0..<d {
                    let xh = (xr[j] - mu) * rs
                    let gy = dyr[j] * g[j]
                    sumG += gy
                    sumGX = sumGX.addingProduct(gy, xh)
                    dg[j] = dg[j].addingProduct(dyr[j], xh)
                    db[j] += dyr[j]
                }
                let mG = sumG / Float(d), mGX = sumGX / Float(d)
                for j in 0..<d {
                    let xh = (xr[j] - mu) * rs
                    let v = rs * (dyr[j] * g[j] - mG - xh * mGX)
                    dxr[j] = accumulate ? dxr[j] + v : v
                }
            }
        }
        let gw = p.grad(weight), gb = p.grad(bias)
        for c in 0..<chunks {
            for j in 0..<d { gw[j] += partial[c * 2 * d + j]; gb[j] += partial[c * 2 * d + d + j] }
        }
    }
}
