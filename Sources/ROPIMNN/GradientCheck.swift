// Central finite differences against analytic gradients: the oracle every backward pass is tested
// with (here rather than in a test target so every layer's and model's tests share one checker).

import ROPIMKernels

public struct GradientCheckResult: CustomStringConvertible {
    public var worst: (name: String, index: Int, analytic: Double, numeric: Double)?
    public var maxError = 0.0      // max |a − n| / (|a| + |n| + floor)
    public var checked = 0
    /// Coordinates left unjudged because a kink lies within ±eps (with `kinkTolerance`).
    public var kinks = 0
    public var description: String {
        guard let w = worst else { return "checked \(checked) coordinates" }
        return "checked \(checked) coordinates (\(kinks) at kinks, not judged); worst \(w.name)[\(w.index)]: analytic \(w.analytic) numeric \(w.numeric) (error \(maxError))"
    }
}

public enum GradientCheck {
    /// Compares `analytic` (which must leave the gradient of `loss` in each target's grad buffer) with
    /// central differences of `loss` at `samples` random coordinates per target plus its largest-gradient
    /// coordinate. Targets are (name, values, grads, count). The relative error uses `floor` so that
    /// coordinates whose true gradient is ~0 are judged by absolute error.
    /// With `kinkTolerance` (for losses with kinks, such as L1), a coordinate whose one-sided slopes
    /// (L(x+ε) − L(x))/ε and (L(x) − L(x−ε))/ε differ by more than that relative amount has a kink within ±ε,
    /// where central differences are no oracle: it is counted in `kinks` instead of judged.
    public static func run(targets: [(String, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int)],
                           samples: Int = 6, eps: Float = 1e-2, floor: Double = 1e-2, seed: UInt64 = 7,
                           kinkTolerance: Double? = nil,
                           loss: () -> Double, analytic: () -> Void) -> GradientCheckResult {
        analytic()
        let l0 = kinkTolerance == nil ? 0 : loss()
        // Copy the analytic gradients before finite differences (loss() may touch grad buffers).
        let grads = targets.map { t in Array(UnsafeBufferPointer(start: t.2, count: t.3)) }
        var rng = RNG(seed: seed)
        var result = GradientCheckResult()
        for (ti, t) in targets.enumerated() {
            let g = grads[ti]
            var coords = (0..<Swift.min(samples, t.3)).map { _ in rng.int(below: t.3) }
            if let m = g.indices.max(by: { abs(g[$0]) < abs(g[$1]) }) { coords.append(m) }
            for i in coords {
                let old = t.1[i]
                t.1[i] = old + eps
                let lp = loss()
                t.1[i] = old - eps
                let lm = loss()
                t.1[i] = old
                let numeric = (lp - lm) / (2 * Double(eps))
                if let kinkTolerance {
                    let up = (lp - l0) / Double(eps), down = (l0 - lm) / Double(eps)
                    if abs(up - down) / (abs(up) + abs(down) + floor) > kinkTolerance { result.kinks += 1; continue }
                }
                let a = Double(g[i])
                let err = abs(a - numeric) / (abs(a) + abs(numeric) + floor)
                result.checked += 1
                if err >= result.maxError {
                    result.maxError = err
                    result.worst = (t.0, i, a, numeric)
                }
            }
        }
        return result
    }

    /// Every parameter of a store as a target.
    public static func targets(_ p: ParameterStore) -> [(String, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Int)] {
        p.entries.map { ($0.name, p.value($0.ref), p.grad($0.ref), $0.ref.count) }
    }

    /// Σ out·weights in Double: a scalar loss whose gradient w.r.t. out is `weights`.
    public static func dot(_ out: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, count: Int) -> Double {
        var s = 0.0
        for i in 0..<count { s += Double(out[i]) * Double(weights[i]) }
        return s
    }
}
