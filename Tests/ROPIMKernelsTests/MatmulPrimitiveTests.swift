import XCTest
import Foundation
@testable import ROPIMKernels

/// The matmul primitives against `referenceGEMM`, in every layout the step uses: linear forward (A·Bᵀ),
/// dX (A·B), dW (Aᵀ·B, accumulating), and the batched attention products with heads read in place from
/// [B, N, H, hd] rows (QKᵀ, P·V, dO·Vᵀ, Pᵀ·dO, dS·K, dSᵀ·Q).
final class MatmulPrimitiveTests: XCTestCase {
    func filled(_ count: Int, _ rng: inout RNG) -> Tensor {
        let t = Tensor(shape: [count])
        for i in 0..<count { t[i] = Float(rng.normal()) }
        return t
    }

    /// The oracle for a (batched) shape: `referenceGEMM` on each batch entry, each matrix read through the
    /// (trans, ld) its two strides spell.
    func reference(_ s: MatmulShape, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                   bias: UnsafePointer<Float>? = nil) {
        let nb = s.batch.count
        func plain(_ st: [Int]) -> (Bool, Int) { st[nb + 1] == 1 ? (false, st[nb]) : (true, st[nb + 1]) }
        let (ta, lda) = plain(s.aStrides), (tb, ldb) = plain(s.bStrides)
        XCTAssertEqual(s.cStrides[nb + 1], 1)
        for flat in 0..<s.batch.reduce(1, *) {
            var rest = flat, oa = 0, ob = 0, oc = 0
            for d in (0..<nb).reversed() {
                let i = rest % s.batch[d]; rest /= s.batch[d]
                oa += i * s.aStrides[d]; ob += i * s.bStrides[d]; oc += i * s.cStrides[d]
            }
            referenceGEMM(transA: ta, transB: tb, m: s.m, n: s.n, k: s.k, alpha: s.alpha, a: a + oa, lda: lda, b: b + ob, ldb: ldb,
                          beta: s.beta, c: c + oc, ldc: s.cStrides[nb])
            if let bias { for i in 0..<s.m { for j in 0..<s.n { c[oc + i * s.cStrides[nb] + j] += bias[j] } } }
        }
    }

    /// Runs `s` through `run` and through the oracle on the same random operands (C starts random, so beta
    /// is seen) and compares every element of C's buffer (elements C does not cover must stay untouched).
    /// With `s.bias`, a random bias row [n] goes to both (`run`'s last argument).
    func check(_ s: MatmulShape, aCount: Int, bCount: Int, cCount: Int, seed: UInt64, _ label: String,
               run: (MatmulShape, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>?) -> Void) {
        var rng = RNG(seed: seed)
        let a = filled(aCount, &rng), b = filled(bCount, &rng), c = filled(cCount, &rng), r = Tensor(shape: [cCount])
        let bias = s.bias ? filled(s.n, &rng) : nil
        r.data.update(from: c.data, count: cCount)
        run(s, a.data, b.data, c.data, bias.map { UnsafePointer($0.data) })
        reference(s, a: a.data, b: b.data, c: r.data, bias: bias.map { UnsafePointer($0.data) })
        let tol = 2e-5 * Float(s.k).squareRoot() + 1e-5
        var worst: Float = 0
        for i in 0..<cCount { worst = max(worst, abs(c[i] - r[i])) }
        XCTAssertLessThanOrEqual(worst, tol, "\(label): \(s)")
    }

    /// 2-D products: each transpose pair, dense and padded leading dimensions, alpha and beta (beta = 1 is
    /// the gradient accumulation dW += dYᵀ·X), a bias row (linear layers' b, attention's q and v biases),
    /// through one primitive on the calling thread.
    func testEvery2DLayoutMatchesReferenceGEMM() {
        let cache = MatmulCache()
        var seed: UInt64 = 1
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (33, 17, 65), (197, 64, 197)] {
            for ta in [false, true] { for tb in [false, true] { for pad in [0, 3] {
                for (alpha, beta, bias) in [(Float(1), Float(0), false), (1, 1, false), (0.125, 0, false), (0.5, 0.25, false),
                                            (1, 0, true), (1, 0.5, true)] {
                    let lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad
                    let s = MatmulShape(transA: ta, transB: tb, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, alpha: alpha, beta: beta,
                                        bias: bias)
                    seed += 1
                    check(s, aCount: (ta ? k : m) * lda, bCount: (tb ? n : k) * ldb, cCount: m * ldc, seed: seed,
                          "ta \(ta) tb \(tb) pad \(pad) bias \(bias)") { cache.run($0, a: $1, b: $2, c: $3, bias: $4) }
                }
            } } }
        }
    }

    /// The attention products as one batched [B, H] primitive each: q, k, v, dO and the context are
    /// [B·N, D] buffers read per head in place (strides N·D, hd, D, 1), P and dS are dense [B, H, N, N].
    func testBatchedAttentionLayoutsMatchReferenceGEMM() {
        let cache = MatmulCache()
        // 5 images: a 2-thread context cuts them 2 + 3, two block shapes.
        let b = 5, h = 3, n = 80, hd = 32, d = h * hd
        let heads = [n * d, hd, d, 1], headsT = [n * d, hd, 1, d], scores = [h * n * n, n * n, n, 1], scoresT = [h * n * n, n * n, 1, n]
        let tokens = b * n * d, probs = b * h * n * n
        let cases: [(String, MatmulShape, Int, Int, Int)] = [
            ("S = scale·Q·Kᵀ", MatmulShape(batch: [b, h], m: n, n: n, k: hd, aStrides: heads, bStrides: headsT, cStrides: scores, alpha: 0.35),
             tokens, tokens, probs),
            ("O = P·V", MatmulShape(batch: [b, h], m: n, n: hd, k: n, aStrides: scores, bStrides: heads, cStrides: heads), probs, tokens, tokens),
            ("dP = dO·Vᵀ", MatmulShape(batch: [b, h], m: n, n: n, k: hd, aStrides: heads, bStrides: headsT, cStrides: scores), tokens, tokens, probs),
            ("dV = Pᵀ·dO", MatmulShape(batch: [b, h], m: n, n: hd, k: n, aStrides: scoresT, bStrides: heads, cStrides: heads), probs, tokens, tokens),
            ("dQ = scale·dS·K", MatmulShape(batch: [b, h], m: n, n: hd, k: n, aStrides: scores, bStrides: heads, cStrides: heads, alpha: 0.35),
             probs, tokens, tokens),
            ("dK = scale·dSᵀ·Q", MatmulShape(batch: [b, h], m: n, n: hd, k: n, aStrides: scoresT, bStrides: heads, cStrides: heads, alpha: 0.35),
             probs, tokens, tokens),
        ]
        for (i, (label, s, na, nb, nc)) in cases.enumerated() {
            check(s, aCount: na, bCount: nb, cCount: nc, seed: 100 + UInt64(i), label) { cache.run($0, a: $1, b: $2, c: $3, bias: $4) }
            // Split over images by a 2-thread context: the same numbers.
            let two = ComputeContext(threads: 2)
            check(s, aCount: na, bCount: nb, cCount: nc, seed: 100 + UInt64(i), label + ", 2 threads") { two.matmul($0, a: $1, b: $2, c: $3, bias: $4) }
            XCTAssertEqual(two.matmuls.count, 2, "\(label): images 0..<2 and 2..<5 as two primitives")
        }
    }

    /// A shape is created once per cache and found again; a different alpha, beta or stride is another primitive;
    /// copies of a context share its cache.
    func testPrimitivesAreCreatedOncePerShape() {
        let compute = ComputeContext(threads: 1), copy = compute
        let s = MatmulShape(transA: false, transB: true, m: 8, n: 4, k: 5, lda: 5, ldb: 5, ldc: 4)
        XCTAssertEqual(compute.matmuls.count, 0)
        let p = compute.matmuls.primitive(s)
        XCTAssert(p === copy.matmuls.primitive(s))
        XCTAssertEqual(compute.matmuls.count, 1)
        XCTAssertFalse(p.implementation.isEmpty)
        for other in [MatmulShape(transA: false, transB: true, m: 8, n: 4, k: 5, lda: 5, ldb: 5, ldc: 4, alpha: 2),
                      MatmulShape(transA: false, transB: true, m: 8, n: 4, k: 5, lda: 5, ldb: 5, ldc: 4, beta: 1),
                      MatmulShape(transA: false, transB: true, m: 8, n: 4, k: 5, lda: 6, ldb: 5, ldc: 4)] {
            XCTAssert(compute.matmuls.primitive(other) !== p)
        }
        XCTAssertEqual(compute.matmuls.count, 4)
        XCTAssertEqual(ComputeContext(threads: 1).matmuls.count, 0, "a new context starts with its own empty cache")
    }

    /// Every way `matmul` cuts a 2-D product over threads (rows of C; the shared dimension with partials, as
    /// dW = dYᵀ·X accumulating into C; columns of C), for 1, 2 and 3 threads, matches the oracle, and two
    /// calls with the same thread count give the same bits.
    func testSplitProductsMatchReferenceAndRepeatBitForBit() {
        let shapes: [(String, MatmulShape)] = [
            ("rows (forward x·Wᵀ)", MatmulShape(transA: false, transB: true, m: 300, n: 70, k: 160, lda: 160, ldb: 160, ldc: 70)),
            ("shared dim (dW += dYᵀ·x)", MatmulShape(transA: true, transB: false, m: 48, n: 40, k: 1500, lda: 48, ldb: 40, ldc: 40, beta: 1)),
            ("shared dim, alpha and beta", MatmulShape(transA: true, transB: false, m: 48, n: 40, k: 1500, lda: 48, ldb: 40, ldc: 40,
                                                       alpha: 0.5, beta: 0.25)),
            ("columns", MatmulShape(transA: true, transB: false, m: 40, n: 500, k: 160, lda: 40, ldb: 500, ldc: 500)),
            ("rows with a bias", MatmulShape(transA: false, transB: true, m: 300, n: 70, k: 160, lda: 160, ldb: 160, ldc: 70, bias: true)),
            ("shared dim with a bias", MatmulShape(transA: true, transB: false, m: 48, n: 40, k: 1500, lda: 48, ldb: 40, ldc: 40, beta: 1,
                                                   bias: true)),
            ("columns with a bias", MatmulShape(transA: true, transB: false, m: 40, n: 500, k: 160, lda: 40, ldb: 500, ldc: 500, bias: true)),
        ]
        for (label, s) in shapes {
            let na = s.aStrides[0] == 1 ? s.k * s.aStrides[1] : s.m * s.aStrides[0]
            let nb = s.bStrides[0] == 1 ? s.n * s.bStrides[1] : s.k * s.bStrides[0]
            for threads in [1, 2, 3] {
                let compute = ComputeContext(threads: threads)
                var first: [Float] = []
                for repeatIndex in 0..<2 {
                    check(s, aCount: na, bCount: nb, cCount: s.m * s.n, seed: 7, "\(label), \(threads) threads") { s, a, b, c, bias in
                        compute.matmul(s, a: a, b: b, c: c, bias: bias)
                        let out = Array(UnsafeBufferPointer(start: c, count: s.m * s.n))
                        if repeatIndex == 0 { first = out } else { XCTAssertEqual(out.map(\.bitPattern), first.map(\.bitPattern), label) }
                    }
                }
            }
        }
    }
}
