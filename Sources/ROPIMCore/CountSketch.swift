// The count sketch P ∈ {−1,0,1}^{K'×K} that ROPIM draws per image, and the projector Π = P†P it
// induces along the token axis (docs/METHOD.md §1–2). Applying Π is a gather/scatter: O(K·D), never K×K.

import ROPIMKernels

/// How the bucket vector h and the sign vector s are drawn.
public enum SketchSampler: String, Codable, CaseIterable, Sendable {
    /// Reference sampler (default): h = K/K' concatenated random permutations of 0..<K', so every
    /// bucket holds exactly c = K/K' tokens; s = a shuffle of ⌊K/2⌋ (+1) and K − ⌊K/2⌋ (−1).
    case balanced
    /// h_i uniform in 0..<K', s_i uniform ±1, all independent (the setting of the unbiasedness and
    /// variance results). Buckets may be empty; Π then has rank = number of non-empty buckets.
    case iid
}

public enum SketchError: Error, CustomStringConvertible, Equatable {
    /// The balanced sampler needs K' to divide K.
    case notDivisible(tokens: Int, buckets: Int)
    /// K < 1, K' < 1 or K' > K.
    case invalidSize(tokens: Int, buckets: Int)

    /// The divisors of `k` in increasing order, found up to √k (so a huge K answers at once), at most 24
    /// listed ("…" after them).
    static func divisors(of k: Int) -> String {
        var small: [Int] = [], large: [Int] = []
        var d = 1
        while d <= k / d {
            if k % d == 0 { small.append(d); if d != k / d { large.append(k / d) } }
            d += 1
        }
        let all = small + large.reversed()
        return all.prefix(24).map(String.init).joined(separator: ", ") + (all.count > 24 ? ", …" : "")
    }

    public var description: String {
        switch self {
        case let .notDivisible(k, kp):
            return "sketch size K'=\(kp) does not divide the token count K=\(k): the balanced (reference) sampler "
                + "needs K' to divide K; use one of \(SketchError.divisors(of: k)), or set sampler: iid"
        case let .invalidSize(k, kp):
            if k < 1 { return "token count K=\(k) is invalid: a sketch needs at least one token (check image and patch size)" }
            return "sketch size K'=\(kp) is invalid for K=\(k) tokens: K' must satisfy 1 ≤ K' ≤ K "
                + "(the reference ratio is K' = K/7, e.g. 28 for K=196, 7 for K=49)"
        }
    }
}

/// How Π is scaled. `.exact` = P†P (the orthogonal projector, default). `.reference(scale)` = scale·PᵀP,
/// the reference code's 0.14·PᵀP (not idempotent), kept for side-by-side runs.
public enum ProjectorScale: Equatable, Sendable {
    case exact
    case reference(Float)
}

/// One random count sketch P ∈ {−1,0,1}^{K'×K} for one image: P[h_i, i] = s_i.
public struct CountSketch: Equatable, Sendable {
    public let tokens: Int            // K
    public let buckets: Int           // K'
    public let bucket: [Int32]        // h, length K, values in 0..<K'
    public let sign: [Float]          // s, length K, ±1
    public let bucketCounts: [Int32]  // |{i : h_i = j}|, length K'

    public init(bucket: [Int32], sign: [Float], buckets: Int) {
        precondition(!bucket.isEmpty, "a count sketch needs at least one token")
        precondition(buckets >= 1, "a count sketch needs at least one bucket, got \(buckets)")
        precondition(sign.count == bucket.count, "\(sign.count) signs for \(bucket.count) tokens")
        precondition(sign.allSatisfy { $0 == 1 || $0 == -1 }, "signs must be ±1")
        var counts = [Int32](repeating: 0, count: buckets)
        for h in bucket {
            precondition(h >= 0 && Int(h) < buckets, "bucket index \(h) outside 0..<\(buckets)")
            counts[Int(h)] += 1
        }
        self.tokens = bucket.count
        self.buckets = buckets
        self.bucket = bucket
        self.sign = sign
        self.bucketCounts = counts
    }

    /// Checks that `sample` can draw a sketch of K' = `kp` buckets over K = `k` tokens with `sampler`.
    public static func validate(tokens k: Int, buckets kp: Int, sampler: SketchSampler) throws {
        guard k >= 1, kp >= 1, kp <= k else { throw SketchError.invalidSize(tokens: k, buckets: kp) }
        if sampler == .balanced && k % kp != 0 { throw SketchError.notDivisible(tokens: k, buckets: kp) }
    }

    /// Draws (h, s) for one image. RNG order: all of h, then all of s (so a seed fixes the sketch).
    public static func sample(tokens k: Int, buckets kp: Int, sampler: SketchSampler, rng: inout RNG) throws -> CountSketch {
        try validate(tokens: k, buckets: kp, sampler: sampler)
        var h = [Int32]()
        h.reserveCapacity(k)
        var s = [Float]()
        s.reserveCapacity(k)
        switch sampler {
        case .balanced:
            for _ in 0..<(k / kp) { h += rng.permutation(kp).map { Int32($0) } }
            s = [Float](repeating: 1, count: k / 2) + [Float](repeating: -1, count: k - k / 2)
            rng.shuffle(&s)
        case .iid:
            for _ in 0..<k { h.append(Int32(rng.int(below: kp))) }
            for _ in 0..<k { s.append(rng.int(below: 2) == 0 ? 1 : -1) }
        }
        return CountSketch(bucket: h, sign: s, buckets: kp)
    }

    /// Number of non-empty buckets = rank of P and of Π (= K' for the balanced sampler).
    public var rank: Int { bucketCounts.reduce(0) { $0 + ($1 > 0 ? 1 : 0) } }

    // MARK: sparse application (all matrices row-major, token axis first)

    /// y = P·x.  x is (K, D), y is (K', D); y must not overlap x.
    public func sketch(_ x: UnsafePointer<Float>, cols d: Int, into y: UnsafeMutablePointer<Float>) {
        y.update(repeating: 0, count: buckets * d)
        for i in 0..<tokens {
            Vec.axpy(sign[i], x + i * d, y + Int(bucket[i]) * d, count: d)
        }
    }

    /// x = P†·y = Pᵀ(PPᵀ)⁻¹y.  y is (K', D), x is (K, D); x must not overlap y.
    /// PPᵀ = diag(bucketCounts); rows of y for empty buckets are never read (pseudo-inverse of a zero row).
    public func unsketch(_ y: UnsafePointer<Float>, cols d: Int, into x: UnsafeMutablePointer<Float>) {
        for i in 0..<tokens {
            let j = Int(bucket[i])
            let a = sign[i] / Float(bucketCounts[j])   // count ≥ 1: token i is in bucket j
            let src = y + j * d, dst = x + i * d
            for c in 0..<d { dst[c] = a * src[c] }
        }
    }

    /// out = Π·x.  x, out are (K, D); `scratch` holds (K', D) floats and must not overlap x or out.
    /// out may equal x: every read of x (the gather) happens before any write to out (the scatter).
    public func project(_ x: UnsafePointer<Float>, cols d: Int, scale: ProjectorScale,
                        scratch: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        sketch(x, cols: d, into: scratch)                     // scratch = P·x   (K', D)
        for i in 0..<tokens {                                 // out_i = f(h_i)·s_i·scratch[h_i]
            let j = Int(bucket[i])
            let a = sign[i] * factor(bucket: j, scale: scale)
            let src = scratch + j * d, dst = out + i * d
            for c in 0..<d { dst[c] = a * src[c] }
        }
    }

    /// out = (I − Π)·x, same rules as `project` (out may equal x: row i of x is read just before it is written).
    public func projectComplement(_ x: UnsafePointer<Float>, cols d: Int, scale: ProjectorScale,
                                  scratch: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        sketch(x, cols: d, into: scratch)                     // scratch = P·x   (K', D)
        for i in 0..<tokens {                                 // out_i = x_i − f(h_i)·s_i·scratch[h_i]
            let j = Int(bucket[i])
            let a = -sign[i] * factor(bucket: j, scale: scale)
            let src = scratch + j * d, row = x + i * d, dst = out + i * d
            for c in 0..<d { dst[c] = row[c].addingProduct(a, src[c]) }
        }
    }

    /// Π = P†P scales bucket j by 1/count_j; the reference code uses one constant for every bucket.
    @inline(__always) private func factor(bucket j: Int, scale: ProjectorScale) -> Float {
        switch scale {
        case .exact: return 1 / Float(bucketCounts[j])
        case let .reference(c): return c
        }
    }

    // MARK: dense forms (tests and pictures only)

    /// P as a dense (K', K) matrix.
    public func denseP() -> [Float] {
        var p = [Float](repeating: 0, count: buckets * tokens)
        for i in 0..<tokens { p[Int(bucket[i]) * tokens + i] = sign[i] }
        return p
    }

    /// Π as a dense (K, K) matrix: Π[i, k] = f(h_i)·s_i·s_k·[h_i = h_k], f = 1/count (exact) or the scale.
    public func denseProjector(scale: ProjectorScale) -> [Float] {
        var m = [Float](repeating: 0, count: tokens * tokens)
        for i in 0..<tokens {
            let j = Int(bucket[i])
            let f = factor(bucket: j, scale: scale)
            for k in 0..<tokens where bucket[k] == bucket[i] { m[i * tokens + k] = f * sign[i] * sign[k] }
        }
        return m
    }
}
