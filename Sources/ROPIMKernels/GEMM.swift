// The matrix-multiply entry points. Row-major: C[m×n] = alpha·op(A)·op(B) + beta·C, op(A) is m×k,
// op(B) is k×n; lda/ldb/ldc are row strides of the stored (untransposed) arrays.
// `gemm` splits C into one block per thread (along its longer side) and runs each block through the
// library on its own thread; `gemmSingle` runs on the calling thread (use it inside parallel loops).
// Backed by oneDNN's dnnl_sgemm on Linux, Accelerate's cblas_sgemm on macOS; `referenceGEMM` is the
// slow obvious version tests compare against.

#if canImport(CDNNL)
import CDNNL
#elseif canImport(Accelerate)
import Accelerate
#endif

public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                 alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                 b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let threads = Parallel.threads
    // Below ~1 MFLOP per thread the split costs more than it gains.
    guard threads > 1, m * n * k >= (1 << 20) * threads, Swift.max(m, n) >= 32 * threads else {
        gemmSingle(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                   beta: beta, c: c, ldc: ldc)
        return
    }
    let splitRows = m >= n
    let extent = splitRows ? m : n
    Parallel.forChunks(threads) { r in
        for t in r {
            // Block boundaries on multiples of 16 keep the library's vector tiles whole.
            let lo = (extent * t / threads) & ~15, hi = t == threads - 1 ? extent : (extent * (t + 1) / threads) & ~15
            guard lo < hi else { continue }
            if splitRows {
                gemmSingle(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                           a: transA ? a + lo : a + lo * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
            } else {
                gemmSingle(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                           b: transB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
            }
        }
    }
}

/// One library call on the calling thread.
public func gemmSingle(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                       alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                       b: UnsafePointer<Float>, ldb: Int,
                       beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    if m == 0 || n == 0 { return }
    Parallel.singleThreadedLibrary()   // per-thread setting; cheap enough to assert on every call
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
