// The pixel reconstruction losses of masked image modeling: Σ|e| (L1, SimMIM/ROPIM reference) or Σe²
// (MSE, MAE) over an error matrix, with the gradient in the same pass.

import ROPIMKernels

public enum ReconstructionLoss {
    /// Σ|e| (l1) or Σe² of e [rows, cols], and g = −sign(e)·scale or −2e·scale. Rows split over the
    /// threads (`ComputeContext.reduce`); each row's sum is added in Double, per-chunk partials in chunk order.
    public static func lossAndGradient(_ e: UnsafePointer<Float>, rows: Int, cols: Int, l1: Bool, scale: Float,
                                       into g: UnsafeMutablePointer<Float>, compute: ComputeContext) -> Double {
        let zero = Float16x(repeating: 0), plus = Float16x(repeating: scale), minus = Float16x(repeating: -scale)
        let twice = Float16x(repeating: -2 * scale)
        var sum = 0.0
        compute.reduce(Double.self, rows: rows, cols: cols, width: 1) { range, partial in
            var total = 0.0
            for row in range {
                var acc = zero
                var j = 0
                while j < cols {
                    let n = Swift.min(16, cols - j), o = row * cols + j
                    let v = n == 16 ? Vec.load(e + o) : Vec.load(e + o, count: n)
                    let grad: Float16x
                    if l1 {
                        acc += v.replacing(with: -v, where: v .< 0)
                        grad = zero.replacing(with: minus, where: v .> 0).replacing(with: plus, where: v .< 0)
                    } else {
                        acc = acc.addingProduct(v, v)
                        grad = twice * v
                    }
                    if n == 16 { Vec.store(grad, g + o) } else { Vec.store(grad, g + o, count: n) }
                    j += 16
                }
                total += Double(Vec.hsum(acc))
            }
            partial.pointee = total
        } combine: { sum += $0.pointee }
        return sum
    }
}
