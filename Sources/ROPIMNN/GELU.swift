// Exact GELU, x·Φ(x), as torch's default (approximate='none'), and its derivative, vectorized
// (erf to 1.5e-7; see FastMath).

import ROPIMKernels

public enum GELU {
    /// y = x·Φ(x) = ½x(1 + erf(x/√2)), elementwise over n values.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        Profiler.measure("gelu") {
            Parallel.forChunks(n, minChunk: 1 << 14) { r in
                // An explicit loop, not FastMath.map: a closure boundary splits SIMD16 into xmm halves.
                var i = r.lowerBound
                while i + 16 <= r.upperBound {
                    let v = UnsafeRawPointer(x + i).loadUnaligned(as: Float16x.self)
                    UnsafeMutableRawPointer(y + i).storeBytes(of: value(v), as: Float16x.self)
                    i += 16
                }
                if i < r.upperBound {
                    var v = Float16x(repeating: 0)
                    for j in 0..<(r.upperBound - i) { v[j] = x[i + j] }
                    let g = value(v)
                    for j in 0..<(r.upperBound - i) { y[i + j] = g[j] }
                }
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

    /// dx = dy·(Φ(x) + x·φ(x)); dx may alias dy.
    public static func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                count n: Int) {
        Profiler.measure("gelu") {
            Parallel.forChunks(n, minChunk: 1 << 14) { r in
                var i = r.lowerBound
                while i + 16 <= r.upperBound {
                    let v = UnsafeRawPointer(x + i).loadUnaligned(as: Float16x.self)
                    let g = UnsafeRawPointer(dy + i).loadUnaligned(as: Float16x.self)
                    UnsafeMutableRawPointer(dx + i).storeBytes(of: g * derivative(v), as: Float16x.self)
                    i += 16
                }
                if i < r.upperBound {
                    var v = Float16x(repeating: 0)
                    for j in 0..<(r.upperBound - i) { v[j] = x[i + j] }
                    let d = derivative(v)
                    for j in 0..<(r.upperBound - i) { dx[i + j] = dy[i + j] * d[j] }
                }
            }
        }
    }
}
