// Exact GELU, x·Φ(x), as torch's default (approximate='none'), and its derivative, vectorized
// (erf to 1.5e-7; see FastMath).
//
// Two forms: the elementwise `forward`/`backward` pair (simple; the reference the fused kernels are
// tested against), and the fused kernels the MLP uses:
//   forward(h, addingBias:)   h += fc1 bias, y = GELU(h) in one pass over h
//   valueAndDerivative        backward's rebuild: GELU(h) and GELU'(h) from one exp per element
//   backward(derivative:)     dh = dy ⊙ GELU'(h), with the fc1 bias gradient (column sums) in the same pass

import ROPIMKernels

public enum GELU {
    /// y = x·Φ(x) = ½x(1 + erf(x/√2)), elementwise over n values.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int, compute: ComputeContext) {
        Profiler.measure("gelu") {
            compute.forChunks(n, minChunk: 1 << 14) { r in
                // An explicit loop, not FastMath.map: a closure boundary splits SIMD16 into xmm halves.
                var i = r.lowerBound
                while i + 16 <= r.upperBound { Vec.store(value(Vec.load(x + i)), y + i); i += 16 }
                if i < r.upperBound { Vec.store(value(Vec.load(x + i, count: r.upperBound - i)), y + i, count: r.upperBound - i) }
            }
        }
    }

    /// dx = dy·(Φ(x) + x·φ(x)); dx may alias dy.
    public static func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                count n: Int, compute: ComputeContext) {
        Profiler.measure("gelu") {
            compute.forChunks(n, minChunk: 1 << 14) { r in
                var i = r.lowerBound
                while i + 16 <= r.upperBound { Vec.store(Vec.load(dy + i) * derivative(Vec.load(x + i)), dx + i); i += 16 }
                let t = r.upperBound - i
                if t > 0 { Vec.store(Vec.load(dy + i, count: t) * derivative(Vec.load(x + i, count: t)), dx + i, count: t) }
            }
        }
    }

    /// h [rows, cols] += bias (when given), then y = GELU(h): fc1's bias add and the activation in one pass.
    public static func forward(_ h: UnsafeMutablePointer<Float>, addingBias bias: UnsafePointer<Float>?,
                               into y: UnsafeMutablePointer<Float>, rows: Int, cols: Int, compute: ComputeContext) {
        Profiler.measure("gelu") {
            let body = cols & ~15, tail = cols - body
            compute.forChunks(rows, minChunk: Swift.max(1, 16384 / Swift.max(cols, 1))) { range in
                for row in range {
                    let hr = h + row * cols, yr = y + row * cols
                    var j = 0
                    while j < body {
                        var v = Vec.load(hr + j)
                        if let bias { v += Vec.load(bias + j); Vec.store(v, hr + j) }
                        Vec.store(value(v), yr + j)
                        j += 16
                    }
                    if tail > 0 {
                        var v = Vec.load(hr + body, count: tail)
                        if let bias { v += Vec.load(bias + body, count: tail); Vec.store(v, hr + body, count: tail) }
                        Vec.store(value(v), yr + body, count: tail)
                    }
                }
            }
        }
    }

    /// y = GELU(h) and d = GELU'(h), elementwise over n values (d may alias h).
    public static func valueAndDerivative(_ h: UnsafePointer<Float>, value y: UnsafeMutablePointer<Float>,
                                          derivative d: UnsafeMutablePointer<Float>, count n: Int, compute: ComputeContext) {
        Profiler.measure("gelu") {
            compute.forChunks(n, minChunk: 1 << 14) { r in
                var i = r.lowerBound
                while i + 16 <= r.upperBound {
                    let g = valueAndDerivative(Vec.load(h + i))
                    Vec.store(g.value, y + i); Vec.store(g.derivative, d + i)
                    i += 16
                }
                let t = r.upperBound - i
                if t > 0 {
                    let g = valueAndDerivative(Vec.load(h + i, count: t))
                    Vec.store(g.value, y + i, count: t); Vec.store(g.derivative, d + i, count: t)
                }
            }
        }
    }

    /// dx [rows, cols] = dy ⊙ derivative (dx may alias either), and biasGrad[j] += Σ_rows dx[·, j] when
    /// given (`ComputeContext.reduce`: deterministic for a thread count).
    public static func backward(_ dy: UnsafePointer<Float>, derivative: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                rows: Int, cols: Int, biasGrad: UnsafeMutablePointer<Float>?, compute: ComputeContext) {
        Profiler.measure("gelu") {
            let body = cols & ~15, tail = cols - body
            compute.reduce(Float.self, rows: rows, cols: cols, width: cols) { range, acc in
                for row in range {
                    let o = row * cols
                    var j = 0
                    while j < body {
                        let g = Vec.load(dy + o + j) * Vec.load(derivative + o + j)
                        Vec.store(g, dx + o + j)
                        Vec.store(Vec.load(acc + j) + g, acc + j)
                        j += 16
                    }
                    if tail > 0 {
                        let g = Vec.load(dy + o + body, count: tail) * Vec.load(derivative + o + body, count: tail)
                        Vec.store(g, dx + o + body, count: tail)
                        Vec.store(Vec.load(acc + body, count: tail) + g, acc + body, count: tail)
                    }
                }
            } combine: { partial in
                if let biasGrad { Vec.add(partial, into: biasGrad, count: cols) }
            }
        }
    }

    @inline(__always) static func value(_ v: Float16x) -> Float16x {
        0.5 * v * (1 + FastMath.erf(v * 0.707_106_781_186_547_52))
    }

    @inline(__always) static func derivative(_ v: Float16x) -> Float16x {
        let cdf = 0.5 * (1 + FastMath.erf(v * 0.707_106_781_186_547_52))
        let pdf = FastMath.exp(-0.5 * v * v) * 0.398_942_280_401_432_68
        return cdf.addingProduct(v, pdf)
    }

    /// GELU(x) = x·Φ(x) and GELU'(x) = Φ(x) + x·φ(x). One exp serves both: φ(x) ∝ e^(−x²/2), which is
    /// also the e^(−z²) that erf(z) needs at z = x/√2.
    @inline(__always) static func valueAndDerivative(_ v: Float16x) -> (value: Float16x, derivative: Float16x) {
        let e = FastMath.exp(-0.5 * v * v)
        let cdf = 0.5 * (1 + FastMath.erf(v * 0.707_106_781_186_547_52, expOfMinusSquare: e))
        return (v * cdf, cdf.addingProduct(v, e * 0.398_942_280_401_432_68))
    }
}
