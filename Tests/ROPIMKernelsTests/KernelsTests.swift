import XCTest
import Foundation
@testable import ROPIMKernels

final class GEMMTests: XCTestCase {
    /// Every transpose combination, odd sizes and non-tight leading dimensions, against the triple loop.
    func testGEMMMatchesReferenceInEveryLayout() {
        var rng = RNG(seed: 1)
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (33, 17, 65), (64, 48, 96)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 1
                    let a = Tensor(shape: [(ta ? k : m) * lda]), b = Tensor(shape: [(tb ? n : k) * ldb])
                    for i in 0..<a.count { a[i] = Float(rng.normal()) }
                    for i in 0..<b.count { b[i] = Float(rng.normal()) }
                    let c = Tensor(shape: [m * ldc]), r = Tensor(shape: [m * ldc])
                    for i in 0..<c.count { c[i] = Float(rng.normal()); r[i] = c[i] }
                    ComputeContext.serial.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda,
                                               b: b.data, ldb: ldb, beta: 0.25, c: c.data, ldc: ldc)
                    referenceGEMM(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a.data, lda: lda,
                                  b: b.data, ldb: ldb, beta: 0.25, c: r.data, ldc: ldc)
                    for i in 0..<m { for j in 0..<n {
                        XCTAssertEqual(c[i * ldc + j], r[i * ldc + j], accuracy: 1e-4 * Float(k).squareRoot() + 1e-5,
                                       "m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb)")
                    } }
                }
            }
        }
    }

    func testGEMMIsDeterministicForAThreadCount() {
        var rng = RNG(seed: 2)
        let m = 96, n = 80, k = 200
        let a = Tensor(shape: [m, k]), b = Tensor(shape: [k, n])
        for i in 0..<a.count { a[i] = Float(rng.normal()) }
        for i in 0..<b.count { b[i] = Float(rng.normal()) }
        let two = ComputeContext(threads: 2)
        let c1 = Tensor(shape: [m, n]), c2 = Tensor(shape: [m, n])
        two.gemm(transA: false, transB: false, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, c: c1.data, ldc: n)
        two.gemm(transA: false, transB: false, m: m, n: n, k: k, a: a.data, lda: k, b: b.data, ldb: n, c: c2.data, ldc: n)
        XCTAssertEqual(c1.array, c2.array)
    }
}

final class RNGTests: XCTestCase {
    func testSameSeedSameSequenceAndStreamsDiffer() {
        var a = RNG(seed: 42), b = RNG(seed: 42)
        let sa = (0..<100).map { _ in a.next() }, sb = (0..<100).map { _ in b.next() }
        XCTAssertEqual(sa, sb)
        var c = RNG(seed: 42).derived(stream: 1), d = RNG(seed: 42).derived(stream: 2)
        XCTAssertNotEqual(c.next(), d.next())
    }

    func testSeedingIsSplitMix64() {
        // SplitMix64's first outputs from state 0 (Vigna's splitmix64.c); the generator's state is those four.
        XCTAssertEqual(RNG(seed: 0).state, [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F, 0xF88B_B8A8_724C_81EC])
        XCTAssertEqual(RNG.splitMix64(0), 0xE220_A839_7B1D_CDAF)
    }

    func testMomentsOfUniformAndNormal() {
        var rng = RNG(seed: 3)
        let n = 200_000
        var su = 0.0, sn = 0.0, sn2 = 0.0
        for _ in 0..<n { su += rng.uniform(); let z = rng.normal(); sn += z; sn2 += z * z }
        XCTAssertEqual(su / Double(n), 0.5, accuracy: 0.005)
        XCTAssertEqual(sn / Double(n), 0, accuracy: 0.01)
        XCTAssertEqual(sn2 / Double(n), 1, accuracy: 0.02)
    }

    func testIntBelowIsUniformAndPermutationIsAPermutation() {
        var rng = RNG(seed: 4)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[rng.int(below: 7)] += 1 }
        for c in counts { XCTAssertEqual(Double(c), 10_000, accuracy: 400) }
        let p = rng.permutation(50)
        XCTAssertEqual(p.sorted(), Array(0..<50))
        XCTAssertNotEqual(p, Array(0..<50))
    }

    func testTruncatedNormalStaysInBounds() {
        var rng = RNG(seed: 5)
        for _ in 0..<10_000 {
            let v = rng.truncatedNormal(std: 1, a: -0.5, b: 0.7)
            XCTAssert(v >= -0.5 && v <= 0.7)
        }
    }
}

final class FastMathTests: XCTestCase {
    func testExpAndErfAgainstLibm() {
        var worstExp: Double = 0, worstErf: Double = 0
        var x: Float = -30
        while x < 30 {
            let v = Float16x((0..<16).map { x + Float($0) * 0.0037 })
            let e = FastMath.exp(v), f = FastMath.erf(v)
            for j in 0..<16 {
                let xd = Double(v[j])
                worstExp = max(worstExp, abs(Double(e[j]) - Foundation.exp(xd)) / Foundation.exp(xd))
                worstErf = max(worstErf, abs(Double(f[j]) - Foundation.erf(xd)))
            }
            x += 0.0591
        }
        XCTAssertLessThan(worstExp, 5e-7, "exp relative error")
        XCTAssertLessThan(worstErf, 5e-7, "erf absolute error")
        let extremes = FastMath.exp(Float16x(repeating: -200))
        XCTAssert(extremes[0] >= 0 && extremes[0] < 1e-37)
    }
}

final class ParallelGEMMTests: XCTestCase {
    /// Through a context of 1 and of 3 threads (3 splits C by rows, by columns, and into blocks that are
    /// not multiples of 16 apart), every layout matches the oracle.
    func testContextGEMMMatchesReferenceFor1And3Threads() {
        var rng = RNG(seed: 9)
        for (m, n, k, threads) in [(300, 70, 160, 1), (300, 70, 160, 3), (40, 500, 160, 3), (129, 129, 200, 3)] {
            let compute = ComputeContext(threads: threads)
            for ta in [false, true] {
                for tb in [false, true] {
                    let lda = ta ? m : k, ldb = tb ? k : n
                    let a = Tensor(shape: [m * k]), b = Tensor(shape: [k * n])
                    for i in 0..<a.count { a[i] = Float(rng.normal()) }
                    for i in 0..<b.count { b[i] = Float(rng.normal()) }
                    let c = Tensor(shape: [m, n]), r = Tensor(shape: [m, n])
                    compute.gemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: lda, b: b.data, ldb: ldb, c: c.data, ldc: n)
                    referenceGEMM(transA: ta, transB: tb, m: m, n: n, k: k, a: a.data, lda: lda, b: b.data, ldb: ldb, c: r.data, ldc: n)
                    for i in 0..<(m * n) { XCTAssertEqual(c[i], r[i], accuracy: 1e-3, "m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb) at \(i)") }
                }
            }
        }
    }
}
