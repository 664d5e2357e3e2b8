// LayerNorm over the last axis: y = (x − μ)/√(σ² + eps)·γ + β. Keeps μ and 1/σ per row for backward.
// Rows run in parallel; each row is SIMD16 with a scalar tail.

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
                        mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>, compute: ComputeContext) {
        let g = p.value(weight), b = p.value(bias), d = dim, eps = eps
        Profiler.measure("layernorm") {
            compute.forChunks(rows, minChunk: 16) { range in
                for r in range { (mean[r], rstd[r]) = LayerNorm.forwardRow(x + r * d, weight: g, bias: b, dim: d, eps: eps, into: y + r * d) }
            }
        }
    }

    /// One row: y = (x − μ)/√(σ² + eps)·γ + β; returns (μ, 1/√(σ² + eps)). SIMD16 with a scalar tail.
    @inline(__always)
    static func forwardRow(_ xr: UnsafePointer<Float>, weight g: UnsafePointer<Float>, bias b: UnsafePointer<Float>, dim d: Int,
                           eps: Float, into yr: UnsafeMutablePointer<Float>) -> (mean: Float, rstd: Float) {
        let body = d & ~15
        var acc = Float16x(repeating: 0)
        var j = 0
        while j < body { acc += Vec.load(xr + j); j += 16 }
        var s = Vec.hsum(acc)
        while j < d { s += xr[j]; j += 1 }
        let mu = s / Float(d), muv = Float16x(repeating: mu)
        acc = Float16x(repeating: 0); j = 0
        while j < body { let c = Vec.load(xr + j) - muv; acc = acc.addingProduct(c, c); j += 16 }
        var v = Vec.hsum(acc)
        while j < d { let c = xr[j] - mu; v = v.addingProduct(c, c); j += 1 }
        let rs = 1 / (v / Float(d) + eps).squareRoot()
        normalizeRow(xr, mean: mu, rstd: rs, weight: g, bias: b, dim: d, into: yr)
        return (mu, rs)
    }

    /// y = (x − mean)·rstd·γ + β from the statistics a forward saved: backward recomputes the output
    /// instead of keeping it (one cheap pass instead of a [rows, dim] buffer per layer).
    public func recompute(_ p: ParameterStore, x: UnsafePointer<Float>, rows: Int, mean: UnsafePointer<Float>,
                          rstd: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, compute: ComputeContext) {
        let g = p.value(weight), b = p.value(bias), d = dim
        Profiler.measure("layernorm") {
            compute.forChunks(rows, minChunk: 16) { range in
                for r in range { LayerNorm.normalizeRow(x + r * d, mean: mean[r], rstd: rstd[r], weight: g, bias: b, dim: d, into: y + r * d) }
            }
        }
    }

    /// One row: y = (x − mean)·rstd·γ + β, SIMD16 with a scalar tail.
    @inline(__always)
    static func normalizeRow(_ x: UnsafePointer<Float>, mean mu: Float, rstd rs: Float, weight g: UnsafePointer<Float>,
                             bias b: UnsafePointer<Float>, dim d: Int, into y: UnsafeMutablePointer<Float>) {
        let muv = Float16x(repeating: mu), rsv = Float16x(repeating: rs), body = d & ~15
        var j = 0
        while j < body {
            Vec.store(Vec.load(b + j).addingProduct((Vec.load(x + j) - muv) * rsv, Vec.load(g + j)), y + j)
            j += 16
        }
        while j < d { y[j] = b[j].addingProduct((x[j] - mu) * rs, g[j]); j += 1 }
    }

    /// dx [rows, dim] (= or += when accumulate); dγ += Σ dy·x̂; dβ += Σ dy.
    /// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ.
    public func backward(_ p: ParameterStore, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
                         mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                         dx: UnsafeMutablePointer<Float>, accumulate: Bool, compute: ComputeContext) {
        let g = p.value(weight), d = dim, body = dim & ~15
        let gw = p.grad(weight), gb = p.grad(bias)
        Profiler.measure("layernorm") {
            // Per-chunk partial sums for dγ, dβ (so threads never write the same memory), chunks of ≥ 16 rows.
            compute.reduce(Float.self, rows: rows, cols: d, minChunk: 16 * d, width: 2 * d) { range, dg in
                let db = dg + d
                for r in range {
                    let xr = x + r * d, dyr = dy + r * d, dxr = dx + r * d
                    let mu = mean[r], rs = rstd[r]
                    let muv = Float16x(repeating: mu), rsv = Float16x(repeating: rs)
                    var accG = Float16x(repeating: 0), accGX = Float16x(repeating: 0)
                    var j = 0
                    while j < body {
                        let xh = (Vec.load(xr + j) - muv) * rsv, dyv = Vec.load(dyr + j)
                        let gy = dyv * Vec.load(g + j)
                        accG += gy
                        accGX = accGX.addingProduct(gy, xh)
                        Vec.store(Vec.load(dg + j).addingProduct(dyv, xh), dg + j)
                        Vec.store(Vec.load(db + j) + dyv, db + j)
                        j += 16
                    }
                    var sumG = Vec.hsum(accG), sumGX = Vec.hsum(accGX)
                    while j < d {
                        let xh = (xr[j] - mu) * rs, gy = dyr[j] * g[j]
                        sumG += gy
                        sumGX = sumGX.addingProduct(gy, xh)
                        dg[j] = dg[j].addingProduct(dyr[j], xh)
                        db[j] += dyr[j]
                        j += 1
                    }
                    let mG = sumG / Float(d), mGX = sumGX / Float(d)
                    let mGv = Float16x(repeating: mG), mGXv = Float16x(repeating: mGX)
                    j = 0
                    while j < body {
                        let xh = (Vec.load(xr + j) - muv) * rsv
                        let v = rsv * (Vec.load(dyr + j) * Vec.load(g + j) - mGv - xh * mGXv)
                        Vec.store(accumulate ? Vec.load(dxr + j) + v : v, dxr + j)
                        j += 16
                    }
                    while j < d {
                        let xh = (xr[j] - mu) * rs
                        let v = rs * (dyr[j] * g[j] - mG - xh * mGX)
                        dxr[j] = accumulate ? dxr[j] + v : v
                        j += 1
                    }
                }
            } combine: { partial in
                Vec.add(partial, into: gw, count: d)
                Vec.add(partial + d, into: gb, count: d)
            }
        }
    }
}
