// The matrix-multiply entry points. Row-major: C[m×n] = alpha·op(A)·op(B) + beta·C, op(A) is m×k,
// op(B) is k×n; lda/ldb/ldc are row strides of the stored (untransposed) arrays.
// `ComputeContext.gemm` and `ComputeContext.matmul` (Compute.swift) split a product into one block per
// thread, each block a cached oneDNN matmul primitive (MatmulPrimitive.swift; Accelerate on macOS).
// `gemmSingle` is one dnnl_sgemm call on the calling thread; `referenceGEMM` is the slow obvious version
// tests compare against.

#if canImport(CDNNL)
import CDNNL
#elseif canImport(Accelerate)
import Accelerate
#endif

/// One library call on the calling thread.
public func gemmSingle(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                       alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                       b: UnsafePointer<Float>, ldb: Int,
                       beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    pinLibraryToOneThread()
    if k == 0 {
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    #if canImport(CDNNL)
    let status = dnnl_sgemm(transA ? 84 : 78, transB ? 84 : 78, Int64(m), Int64(n), Int64(k), alpha,
                            a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc))
    precondition(status == dnnl_success, "dnnl_sgemm failed (status \(status.rawValue)) m=\(m) n=\(n) k=\(k)")
    #elseif canImport(Accelerate)
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    #else
    referenceGEMM(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    #endif
}

/// The GEMM library's thread count is a per-thread setting (OpenMP ICV): pin it to 1 on the calling thread,
/// so the library never starts threads of its own next to ours. Cheap enough to do before every call.
@inline(__always) func pinLibraryToOneThread() {
    #if canImport(CDNNL)
    omp_set_num_threads(1)
    #endif
}

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
