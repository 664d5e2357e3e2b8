// Exact GELU, x·Φ(x), as torch's default (approximate='none'), and its derivative.

import Foundation
import ROPIMKernels

public enum GELU {
    /// y = x·Φ(x), elementwise over n values.
    public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        Parallel.forChunks(n, minChunk: 4096) { r in
            for i in r {
                let v = x[i]
                y[i] = 0.5 * v * (1 + erf(v * 0.70710678118654752))
            }
        }
    }

    /// dx = dy·(Φ(x) + x·φ(x)); accumulate adds into dx.
    public static func backward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                count n: Int) {
        Parallel.forChunks(n, minChunk: 4096) { r in
            for i in r {
                let v = x[i]
                let cdf = 0.5 * (1 + erf(v * 0.70710678118654752))
                let pdf = exp(-0.5 * v * v) * 0.39894228040143268
                dx[i] = dy[i] * (cdf + v * pdf)
            }
        }
    }
}
