// Principal component analysis of feature vectors for pictures: the covariance matrix of the centred rows
// and its eigen decomposition by the cyclic Jacobi method (Golub & Van Loan, Matrix Computations, §8.5):
// plane rotations zero the off-diagonal entries one pair at a time until they are negligible; the diagonal is
// then the eigenvalues and the accumulated rotations the eigenvectors. Exact up to rounding for any symmetric
// matrix, O(D³) per sweep: a fraction of a second for the D ≤ 1024 feature widths of this project.

import Foundation

public struct PCA: Sendable {
    /// Column means [D] of the fitted rows.
    public let mean: [Double]
    /// The leading principal axes, unit length and orthogonal, largest variance first: [k][D].
    public let components: [[Double]]
    /// The variance along each of them (the covariance's eigenvalues, divisor n − 1).
    public let variances: [Double]
    /// The total variance (trace of the covariance).
    public let totalVariance: Double

    /// Fits `k` components to `x` [n, d] (row-major). Each component's sign is chosen so that its largest
    /// |entry| is positive, so a fit is deterministic.
    public static func fit(_ x: [Float], rows n: Int, cols d: Int, components k: Int) -> PCA {
        precondition(n >= 2 && d >= 1 && x.count == n * d && (1...d).contains(k), "PCA of \(n)×\(d) rows to \(k) components")
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n { for j in 0..<d { mean[j] += Double(x[i * d + j]) } }
        for j in 0..<d { mean[j] /= Double(n) }
        var cov = [Double](repeating: 0, count: d * d)
        var row = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d { row[j] = Double(x[i * d + j]) - mean[j] }
            for a in 0..<d where row[a] != 0 { let r = row[a]; for b in a..<d { cov[a * d + b] += r * row[b] } }
        }
        for a in 0..<d { for b in a..<d { cov[a * d + b] /= Double(n - 1); cov[b * d + a] = cov[a * d + b] } }
        let (values, vectors) = symmetricEigen(cov, size: d)
        let order = (0..<d).sorted { values[$0] > values[$1] }.prefix(k)
        let comps = order.map { c -> [Double] in
            var v = (0..<d).map { vectors[$0 * d + c] }
            if let big = v.indices.max(by: { abs(v[$0]) < abs(v[$1]) }), v[big] < 0 { v = v.map { -$0 } }
            return v
        }
        return PCA(mean: mean, components: comps, variances: order.map { Swift.max(values[$0], 0) },
                   totalVariance: (0..<d).reduce(0) { $0 + cov[$1 * d + $1] })
    }

    /// Coordinates [n, k] of rows `x` [n, d] on the components.
    public func project(_ x: [Float], rows n: Int) -> [Double] {
        let d = mean.count, k = components.count
        var out = [Double](repeating: 0, count: n * k)
        for i in 0..<n { for c in 0..<k {
            var s = 0.0
            for j in 0..<d { s += (Double(x[i * d + j]) - mean[j]) * components[c][j] }
            out[i * k + c] = s
        } }
        return out
    }

    /// Eigenvalues [n] and eigenvectors (columns of [n, n], row-major) of the symmetric matrix `a` [n, n].
    public static func symmetricEigen(_ a: [Double], size n: Int) -> (values: [Double], vectors: [Double]) {
        precondition(a.count == n * n, "\(a.count) values are not a \(n)×\(n) matrix")
        var m = a, v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        let scale = Swift.max(m.reduce(0) { $0 + $1 * $1 }.squareRoot(), .leastNormalMagnitude)
        for _ in 0..<100 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<n { off += m[p * n + q] * m[p * n + q] } }
            if off.squareRoot() <= 1e-15 * scale { break }
            for p in 0..<n {
                for q in (p + 1)..<n where m[p * n + q] != 0 {
                    // The rotation (c, s) in the (p, q) plane that zeroes m[p, q] (the smaller of the two angles).
                    let theta = (m[q * n + q] - m[p * n + p]) / (2 * m[p * n + q])
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for k in 0..<n {   // columns p and q: M ← M·J
                        let mkp = m[k * n + p], mkq = m[k * n + q]
                        m[k * n + p] = c * mkp - s * mkq; m[k * n + q] = s * mkp + c * mkq
                    }
                    for k in 0..<n {   // rows p and q: M ← Jᵀ·M
                        let mpk = m[p * n + k], mqk = m[q * n + k]
                        m[p * n + k] = c * mpk - s * mqk; m[q * n + k] = s * mpk + c * mqk
                    }
                    for k in 0..<n {   // V ← V·J
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq; v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        return ((0..<n).map { m[$0 * n + $0] }, v)
    }
}
