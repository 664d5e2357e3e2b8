// Properties of the count sketch and its projector (docs/METHOD.md §1–2): sampler invariants, errors,
// P·Pᵀ, pseudo-inverse, projector algebra, sparse = dense, reference scale, Monte Carlo moments, seeds.

import XCTest
import ROPIMKernels
@testable import ROPIMCore

// MARK: dense helpers (row-major, slow and obvious)

/// (m, n) · (n, p) → (m, p)
private func matmul(_ a: [Float], _ b: [Float], _ m: Int, _ n: Int, _ p: Int) -> [Float] {
    precondition(a.count == m * n && b.count == n * p)
    var c = [Float](repeating: 0, count: m * p)
    a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in c.withUnsafeMutableBufferPointer { c in
        for i in 0..<m { for k in 0..<n {
            let aik = a[i * n + k]
            if aik == 0 { continue }
            for j in 0..<p { c[i * p + j] += aik * b[k * p + j] }
        } }
    } } }
    return c
}

/// (m, n) → (n, m)
private func transpose(_ a: [Float], _ m: Int, _ n: Int) -> [Float] {
    var t = [Float](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n { t[j * m + i] = a[i * n + j] } }
    return t
}

private func identity(_ n: Int) -> [Float] {
    var e = [Float](repeating: 0, count: n * n)
    for i in 0..<n { e[i * n + i] = 1 }
    return e
}

private func frobenius(_ a: [Float]) -> Float { a.reduce(0) { $0 + $1 * $1 }.squareRoot() }

private func randomMatrix(_ count: Int, _ rng: inout RNG) -> [Float] { (0..<count).map { _ in Float(rng.normal()) } }

private func assertClose(_ a: [Float], _ b: [Float], tol: Float, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, what, file: file, line: line)
    var worst: Float = 0, at = 0
    for i in 0..<min(a.count, b.count) where !(abs(a[i] - b[i]) <= worst) { worst = abs(a[i] - b[i]); at = i }
    XCTAssertLessThanOrEqual(worst, tol, "\(what): max |diff| \(worst) at \(at) (\(a[at]) vs \(b[at]))", file: file, line: line)
}

private func draw(_ k: Int, _ kp: Int, _ sampler: SketchSampler, _ rng: inout RNG) -> CountSketch {
    try! CountSketch.sample(tokens: k, buckets: kp, sampler: sampler, rng: &rng)
}

/// The sizes of the brief: ViT on 112/224 px with patch 16, and an 8×8 grid (64 is not divisible by 7).
private let balancedSizes = [(49, 7), (196, 28), (64, 8), (64, 16), (9, 3), (49, 1), (49, 49)]

final class CountSketchSamplerTests: XCTestCase {
    func testBalancedSamplerFillsEveryBucketOncePerRunWithHalfPlusSigns() {
        var rng = RNG(seed: 11)
        for (k, kp) in balancedSizes {
            for _ in 0..<5 {
                let s = draw(k, kp, .balanced, &rng)
                XCTAssertEqual(s.tokens, k); XCTAssertEqual(s.buckets, kp)
                XCTAssertEqual(s.bucketCounts, [Int32](repeating: Int32(k / kp), count: kp), "K=\(k) K'=\(kp)")
                XCTAssertEqual(s.rank, kp)
                for run in 0..<(k / kp) {
                    let h = s.bucket[(run * kp)..<((run + 1) * kp)].map { Int($0) }
                    XCTAssertEqual(h.sorted(), Array(0..<kp), "run \(run) of K=\(k) K'=\(kp) is not a permutation")
                }
                XCTAssertTrue(s.sign.allSatisfy { $0 == 1 || $0 == -1 })
                XCTAssertEqual(s.sign.filter { $0 == 1 }.count, k / 2, "K=\(k): ⌊K/2⌋ plus signs")
            }
        }
    }

    /// The permutations and the sign shuffle are actually random: over draws, every token visits
    /// several buckets and takes both signs (a sampler returning 0..<K' in order would fail).
    func testBalancedSamplerIsNotFixed() {
        var rng = RNG(seed: 12)
        let k = 49, kp = 7
        var seenBuckets = [Set<Int32>](repeating: [], count: k), seenSigns = [Set<Float>](repeating: [], count: k)
        for _ in 0..<60 {
            let s = draw(k, kp, .balanced, &rng)
            for i in 0..<k { seenBuckets[i].insert(s.bucket[i]); seenSigns[i].insert(s.sign[i]) }
        }
        XCTAssertTrue(seenBuckets.allSatisfy { $0.count == kp }, "every token should reach every bucket in 60 draws")
        XCTAssertTrue(seenSigns.allSatisfy { $0.count == 2 })
        // The K/K' runs are independent permutations: token j of one run and token j of the next share a
        // bucket with probability 1/K' (always, if one permutation were repeated).
        var same = 0, pairs = 0
        for _ in 0..<60 {
            let s = draw(k, kp, .balanced, &rng)
            for j in 0..<(k - kp) { same += s.bucket[j] == s.bucket[j + kp] ? 1 : 0; pairs += 1 }
        }
        XCTAssertLessThan(Double(same) / Double(pairs), 0.3, "runs look identical (expected rate 1/K' = \(1.0 / Double(kp)))")
    }

    func testNonDivisibleSketchSizeThrowsAHelpfulError() {
        var rng = RNG(seed: 13)
        XCTAssertThrowsError(try CountSketch.sample(tokens: 49, buckets: 8, sampler: .balanced, rng: &rng)) { error in
            XCTAssertEqual(error as? SketchError, .notDivisible(tokens: 49, buckets: 8))
            let text = "\(error)"
            for needle in ["K'=8", "K=49", "divide", "1, 7, 49", "iid"] {
                XCTAssertTrue(text.contains(needle), "description lacks '\(needle)': \(text)")
            }
        }
        XCTAssertThrowsError(try CountSketch.sample(tokens: 64, buckets: 7, sampler: .balanced, rng: &rng)) { error in
            XCTAssertEqual(error as? SketchError, .notDivisible(tokens: 64, buckets: 7))
            XCTAssertTrue("\(error)".contains("1, 2, 4, 8, 16, 32, 64"), "\(error)")
        }
        // The i.i.d. sampler has no divisibility requirement.
        let s = draw(49, 8, .iid, &rng)
        XCTAssertEqual(s.bucketCounts.reduce(0, +), 49)
    }

    func testInvalidSizesThrowForBothSamplers() {
        var rng = RNG(seed: 14)
        for sampler in SketchSampler.allCases {
            for (k, kp) in [(49, 0), (49, -3), (49, 50), (0, 0), (0, 1), (-1, 1)] {
                XCTAssertThrowsError(try CountSketch.sample(tokens: k, buckets: kp, sampler: sampler, rng: &rng),
                                     "K=\(k) K'=\(kp) \(sampler)") { error in
                    XCTAssertEqual(error as? SketchError, .invalidSize(tokens: k, buckets: kp))
                    XCTAssertTrue("\(error)".contains("K=\(k)"), "\(error)")
                }
            }
            // The edges are valid.
            XCTAssertNoThrow(try CountSketch.sample(tokens: 49, buckets: 49, sampler: sampler, rng: &rng))
            XCTAssertNoThrow(try CountSketch.sample(tokens: 1, buckets: 1, sampler: sampler, rng: &rng))
        }
        XCTAssertTrue("\(SketchError.invalidSize(tokens: 49, buckets: 50))".contains("1 ≤ K' ≤ K"))
    }

    func testIIDSamplerCoversBucketsAndSigns() {
        var rng = RNG(seed: 15)
        var emptyBucketSeen = false
        for _ in 0..<20 {
            let s = draw(16, 8, .iid, &rng)
            XCTAssertTrue(s.bucket.allSatisfy { $0 >= 0 && $0 < 8 })
            XCTAssertEqual(s.bucketCounts.map { Int($0) }, (0..<8).map { j in s.bucket.filter { $0 == j }.count })
            XCTAssertEqual(s.rank, s.bucketCounts.filter { $0 > 0 }.count)
            if s.rank < 8 { emptyBucketSeen = true }
        }
        XCTAssertTrue(emptyBucketSeen, "K=16, K'=8 i.i.d. should leave a bucket empty in 20 draws")
    }

    func testSameSeedSameSketchAndSuccessiveDrawsDiffer() {
        for sampler in SketchSampler.allCases {
            var a = RNG(seed: 99), b = RNG(seed: 99), c = RNG(seed: 100)
            let a1 = draw(196, 28, sampler, &a), a2 = draw(196, 28, sampler, &a)
            let b1 = draw(196, 28, sampler, &b), b2 = draw(196, 28, sampler, &b)
            XCTAssertEqual(a1, b1, "\(sampler)"); XCTAssertEqual(a2, b2, "\(sampler)")
            XCTAssertNotEqual(a1, a2, "\(sampler): successive draws must differ")
            XCTAssertNotEqual(a1.bucket, a2.bucket); XCTAssertNotEqual(a1.sign, a2.sign)
            XCTAssertNotEqual(a1, draw(196, 28, sampler, &c), "\(sampler): another seed, another sketch")
        }
    }
}

final class CountSketchAlgebraTests: XCTestCase {
    /// Balanced draws of each size, and i.i.d. draws including ones with empty buckets.
    private func sketches() -> [CountSketch] {
        var rng = RNG(seed: 21)
        var out = [(49, 7), (64, 8), (64, 16), (9, 3)].map { draw($0.0, $0.1, .balanced, &rng) }
        out += [(49, 7), (64, 16), (12, 12), (10, 4)].map { draw($0.0, $0.1, .iid, &rng) }
        XCTAssertTrue(out.contains { $0.rank < $0.buckets }, "no i.i.d. draw with an empty bucket: pick another seed")
        return out
    }

    /// Rows of P have disjoint supports: P·Pᵀ = diag(bucket counts); balanced ⇒ c·I.
    func testSketchGramIsDiagonalWithBucketCounts() {
        for s in sketches() {
            let (k, kp) = (s.tokens, s.buckets)
            let p = s.denseP()
            XCTAssertTrue(p.allSatisfy { $0 == 0 || $0 == 1 || $0 == -1 })
            for i in 0..<k { XCTAssertEqual((0..<kp).filter { p[$0 * k + i] != 0 }.count, 1, "column \(i) has one entry") }
            let gram = matmul(p, transpose(p, kp, k), kp, k, kp)
            var diag = [Float](repeating: 0, count: kp * kp)
            for j in 0..<kp { diag[j * kp + j] = Float(s.bucketCounts[j]) }
            XCTAssertEqual(gram, diag, "K=\(k) K'=\(kp)")
            if s.bucketCounts.allSatisfy({ $0 == s.bucketCounts[0] }) && s.rank == kp {
                XCTAssertEqual(gram, identity(kp).map { $0 * Float(k / kp) })
            }
        }
    }

    /// The sparse sketch is P·x, and unsketch is the Moore–Penrose pseudo-inverse of P
    /// (all four Penrose conditions on the matrix it applies), = Pᵀ/c when balanced.
    func testSketchIsPAndUnsketchIsThePseudoInverse() {
        var rng = RNG(seed: 22)
        for s in sketches() {
            let (k, kp, d) = (s.tokens, s.buckets, 5)
            let p = s.denseP()
            let x = randomMatrix(k * d, &rng)
            var y = [Float](repeating: .nan, count: kp * d)
            s.sketch(x, cols: d, into: &y)
            assertClose(y, matmul(p, x, kp, k, d), tol: 1e-5, "P·x K=\(k) K'=\(kp)")

            // M = P† as a dense (K, K') matrix: unsketch of the K'×K' identity.
            var m = [Float](repeating: .nan, count: k * kp)
            s.unsketch(identity(kp), cols: kp, into: &m)
            let pm = matmul(p, m, kp, k, kp), mp = matmul(m, p, k, kp, k)
            assertClose(matmul(pm, p, kp, kp, k), p, tol: 1e-6, "P M P = P")
            assertClose(matmul(mp, m, k, k, kp), m, tol: 1e-6, "M P M = M")
            assertClose(pm, transpose(pm, kp, kp), tol: 1e-6, "P M symmetric")
            assertClose(mp, transpose(mp, k, k), tol: 1e-6, "M P symmetric")
            if s.rank == kp && k % kp == 0 && s.bucketCounts.allSatisfy({ $0 == Int32(k / kp) }) {
                assertClose(m, transpose(p, kp, k).map { $0 / Float(k / kp) }, tol: 1e-7, "balanced P† = Pᵀ/c")
            }
            // Unsketch of a (K', D) matrix is M·y.
            let z = randomMatrix(kp * d, &rng)
            var back = [Float](repeating: .nan, count: k * d)
            s.unsketch(z, cols: d, into: &back)
            assertClose(back, matmul(m, z, k, kp, d), tol: 1e-5, "P†·y")
        }
    }

    func testExactProjectorIsAnOrthogonalProjectorOfRankKPrime() {
        var rng = RNG(seed: 23)
        for s in sketches() {
            let (k, kp, d) = (s.tokens, s.buckets, 6)
            let pi = s.denseProjector(scale: .exact)
            let eye = identity(k)
            let perp = zip(eye, pi).map { $0 - $1 }
            assertClose(pi, transpose(pi, k, k), tol: 0, "Π symmetric K=\(k) K'=\(kp)")
            assertClose(matmul(pi, pi, k, k, k), pi, tol: 1e-6, "Π² = Π K=\(k) K'=\(kp)")
            let trace = (0..<k).reduce(Float(0)) { $0 + pi[$1 * k + $1] }
            XCTAssertEqual(trace, Float(s.rank), accuracy: 1e-4, "trace Π = rank")
            assertClose(matmul(pi, perp, k, k, k), [Float](repeating: 0, count: k * k), tol: 1e-6, "Π·Π⊥ = 0")
            assertClose(matmul(s.denseP(), perp, kp, k, k), [Float](repeating: 0, count: kp * k), tol: 1e-6, "P·Π⊥ = 0")
            // Π = P†P, with P† from unsketch.
            var m = [Float](repeating: 0, count: k * kp)
            s.unsketch(identity(kp), cols: kp, into: &m)
            assertClose(matmul(m, s.denseP(), k, kp, k), pi, tol: 1e-6, "Π = P†P")
            // ‖X‖² = ‖ΠX‖² + ‖Π⊥X‖², through the sparse path.
            let x = randomMatrix(k * d, &rng)
            var scratch = [Float](repeating: 0, count: kp * d)
            var a = [Float](repeating: 0, count: k * d), b = [Float](repeating: 0, count: k * d)
            s.project(x, cols: d, scale: .exact, scratch: &scratch, into: &a)
            s.projectComplement(x, cols: d, scale: .exact, scratch: &scratch, into: &b)
            let total = frobenius(x), split = (frobenius(a) * frobenius(a) + frobenius(b) * frobenius(b)).squareRoot()
            XCTAssertEqual(split, total, accuracy: 1e-5 * total)
            XCTAssertGreaterThan(frobenius(a), 0.05 * total); XCTAssertGreaterThan(frobenius(b), 0.05 * total)
        }
        // Balanced: rank (= trace) is exactly K'.
        let s = draw(196, 28, .balanced, &rng)
        let pi = s.denseProjector(scale: .exact)
        XCTAssertEqual((0..<196).reduce(Float(0)) { $0 + pi[$1 * 196 + $1] }, 28, accuracy: 1e-4)
    }

    /// The O(K·D) gather/scatter equals the dense K×K product, both scales, out of place and in place,
    /// and ignores whatever the scratch held before.
    func testSparseProjectionEqualsDenseProduct() {
        var rng = RNG(seed: 24)
        let cases: [(Int, Int, SketchSampler, [Int])] = [
            (49, 7, .balanced, [1, 3, 16, 48]), (196, 28, .balanced, [1, 5, 32]),
            (64, 8, .balanced, [2, 17]), (64, 16, .balanced, [4, 33]), (64, 16, .iid, [7]), (10, 4, .iid, [3]),
        ]
        for (k, kp, sampler, widths) in cases {
            let s = draw(k, kp, sampler, &rng)
            for d in widths {
                let x = randomMatrix(k * d, &rng)
                for scale in [ProjectorScale.exact, .reference(0.14)] {
                    let pi = s.denseProjector(scale: scale)
                    let want = matmul(pi, x, k, k, d)
                    let wantPerp = zip(x, want).map { $0 - $1 }
                    let what = "K=\(k) K'=\(kp) D=\(d) \(sampler) \(scale)"
                    var scratch = [Float](repeating: .nan, count: kp * d)
                    var out = [Float](repeating: .nan, count: k * d)
                    s.project(x, cols: d, scale: scale, scratch: &scratch, into: &out)
                    assertClose(out, want, tol: 1e-5, "Π·x " + what)
                    scratch = [Float](repeating: .nan, count: kp * d)
                    s.projectComplement(x, cols: d, scale: scale, scratch: &scratch, into: &out)
                    assertClose(out, wantPerp, tol: 1e-5, "Π⊥·x " + what)
                    // In place: out is x.
                    var inPlace = x
                    inPlace.withUnsafeMutableBufferPointer { p in
                        s.project(p.baseAddress!, cols: d, scale: scale, scratch: &scratch, into: p.baseAddress!)
                    }
                    assertClose(inPlace, want, tol: 1e-5, "in-place Π·x " + what)
                    inPlace = x
                    inPlace.withUnsafeMutableBufferPointer { p in
                        s.projectComplement(p.baseAddress!, cols: d, scale: scale, scratch: &scratch, into: p.baseAddress!)
                    }
                    assertClose(inPlace, wantPerp, tol: 1e-5, "in-place Π⊥·x " + what)
                }
            }
        }
    }

    /// The reference code's 0.14·PᵀP with K'/K = 1/7 is 0.98·Π: close to Π but not a projector.
    func testReferenceScaleIsNearlyButNotExactlyTheProjector() {
        var rng = RNG(seed: 25)
        let s = draw(196, 28, .balanced, &rng)
        let exact = s.denseProjector(scale: .exact), ref = s.denseProjector(scale: .reference(0.14))
        assertClose(ref, exact.map { 0.98 * $0 }, tol: 1e-6, "0.14·PᵀP = 0.98·Π")
        // (0.98Π)² − 0.98Π = (0.98² − 0.98)Π, ‖Π‖_F = √K' = √28.
        let defect = frobenius(zip(matmul(ref, ref, 196, 196, 196), ref).map { $0 - $1 })
        XCTAssertGreaterThan(defect, 0.05, "reference scale should not be idempotent")
        XCTAssertEqual(defect, 0.0196 * Float(28).squareRoot(), accuracy: 1e-3)
        let exactDefect = frobenius(zip(matmul(exact, exact, 196, 196, 196), exact).map { $0 - $1 })
        XCTAssertLessThan(exactDefect, 1e-4)
    }
}

/// Propositions 3–4 with i.i.d. h and s, by Monte Carlo. Tolerances are ~5 standard errors of the
/// estimate; a sampler with fixed or missing signs, or a biased PᵀP, misses them by 10+ errors.
final class CountSketchMonteCarloTests: XCTestCase {
    /// E[PᵀP] = I. (PᵀP)_{ik} = s_i s_k [h_i = h_k]: the diagonal is exactly 1; an off-diagonal entry has
    /// mean 0 and variance 1/K' (it would have mean 1/K' = 0.25 if the signs were all +1 or fixed per token pair).
    func testMeanOfPTransposePIsIdentity() {
        var rng = RNG(seed: 31)
        let k = 16, kp = 4, draws = 3000
        var sum = [Float](repeating: 0, count: k * k)
        for _ in 0..<draws {
            let s = draw(k, kp, .iid, &rng)
            for i in 0..<k { for j in 0..<k where s.bucket[i] == s.bucket[j] { sum[i * k + j] += s.sign[i] * s.sign[j] } }
        }
        let mean = sum.map { $0 / Float(draws) }
        let standardError = (1 / Float(kp) / Float(draws)).squareRoot()   // ≈ 0.009
        assertClose(mean, identity(k), tol: 5.5 * standardError, "E[PᵀP] = I")
        // h is uniform over buckets and s over ±1 (checked directly, not only through cancellations).
        var perBucket = [Int](repeating: 0, count: kp), plus = 0
        for _ in 0..<draws {
            let s = draw(k, kp, .iid, &rng)
            for i in 0..<k { perBucket[Int(s.bucket[i])] += 1; plus += s.sign[i] > 0 ? 1 : 0 }
        }
        let trials = Double(k * draws), q = 1 / Double(kp)
        for j in 0..<kp {
            XCTAssertEqual(Double(perBucket[j]), trials * q, accuracy: 5 * (trials * q * (1 - q)).squareRoot(), "bucket \(j)")
        }
        XCTAssertEqual(Double(plus), trials / 2, accuracy: 5 * (trials / 4).squareRoot(), "plus signs")
    }

    /// E⟨Pa, Pb⟩ = ⟨a, b⟩ and Var⟨Pa, Pb⟩ = (⟨a,b⟩² + ‖a‖²‖b‖² − 2Σa_i²b_i²)/K' ≤ (⟨a,b⟩² + ‖a‖²‖b‖²)/K'.
    /// a and b have non-zero means so that unsigned or correlated signs would bias the mean by ≈ Σa·Σb/K'.
    func testInnerProductIsUnbiasedWithBoundedVariance() {
        var rng = RNG(seed: 32)
        let k = 32, kp = 8, draws = 20000
        let a = (0..<k).map { _ in Float(1 + rng.normal()) }, b = (0..<k).map { _ in Float(0.5 + rng.normal()) }
        let dot = Double(zip(a, b).reduce(0) { $0 + $1.0 * $1.1 })
        let aa = Double(a.reduce(0) { $0 + $1 * $1 }), bb = Double(b.reduce(0) { $0 + $1 * $1 })
        let a2b2 = Double(zip(a, b).reduce(0) { $0 + $1.0 * $1.0 * $1.1 * $1.1 })
        let bound = (dot * dot + aa * bb) / Double(kp)
        let exactVariance = bound - 2 * a2b2 / Double(kp)

        var samples = [Double]()
        samples.reserveCapacity(draws)
        var pa = [Float](repeating: 0, count: kp), pb = [Float](repeating: 0, count: kp)
        for _ in 0..<draws {
            let s = draw(k, kp, .iid, &rng)
            s.sketch(a, cols: 1, into: &pa)
            s.sketch(b, cols: 1, into: &pb)
            samples.append(Double(zip(pa, pb).reduce(0) { $0 + $1.0 * $1.1 }))
        }
        let n = Double(draws)
        let mean = samples.reduce(0, +) / n
        let variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
        let m4 = samples.reduce(0) { $0 + pow($1 - mean, 4) } / n
        let meanError = (variance / n).squareRoot(), varianceError = ((m4 - variance * variance) / n).squareRoot()

        XCTAssertEqual(mean, dot, accuracy: 5 * meanError, "E⟨Pa,Pb⟩ = ⟨a,b⟩ (bias without signs would be ≈ \(Double(a.reduce(0, +) * b.reduce(0, +)) / Double(kp)))")
        XCTAssertLessThanOrEqual(variance, bound + 5 * varianceError, "Var⟨Pa,Pb⟩ ≤ (⟨a,b⟩² + ‖a‖²‖b‖²)/K'")
        XCTAssertEqual(variance, exactVariance, accuracy: 5 * varianceError, "Var⟨Pa,Pb⟩ has its closed form")
        XCTAssertGreaterThan(variance, 0.5 * exactVariance, "the sketch must actually inject noise")
    }
}
