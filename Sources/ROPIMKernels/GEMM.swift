// The matrix-multiply convention. Row-major: C[m×n] = alpha·op(A)·op(B) + beta·C, op(A) is m×k,
// op(B) is k×n; lda/ldb/ldc are row strides of the stored (untransposed) arrays.
// `ComputeContext.gemm` and `ComputeContext.matmul` (Compute.swift) split a product into one block per
// thread, each block a cached oneDNN matmul primitive (MatmulPrimitive.swift; Accelerate on macOS).
// `referenceGEMM` is the slow obvious version tests compare against.

/// Triple loop in Double accumulation: the oracle for `gemm`.
public func referenceGEMM(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                          alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                          b: UnsafePointer<Float>, ldb: Int,
                          beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transA ? a[p * lda + i] : a[i * lda + p]
                let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                s += Double(av) * Double(bv)
            }
            let prev = beta == 0 ? 0 : Double(beta) * Double(c[i * ldc + j])
            c[i * ldc + j] = Float(Double(alpha) * s + prev)
        }
    }
}
