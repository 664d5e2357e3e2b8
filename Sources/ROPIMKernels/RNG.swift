// Explicit, seeded randomness: every random choice in the project draws from a `RNG` passed in.
// xoshiro256** seeded through SplitMix64; sequences are identical on every platform.

import Foundation

public struct RNG: RandomNumberGenerator, Codable, Equatable, Sendable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        // SplitMix64's first four outputs from state `seed`.
        state = (0..<4).map { RNG.splitMix64(seed &+ UInt64($0) &* RNG.golden) }
    }

    private static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    /// SplitMix64's output from state `x` (advance by the golden gamma, then finalize): distinct inputs give
    /// well-spread, distinct outputs. Seeds the generator and mixes seeds (e.g. a loader's per-sample seeds).
    public static func splitMix64(_ x: UInt64) -> UInt64 {
        var z = x &+ golden
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Runs `body` with a generator it must not draw from: where a path that draws nothing (evaluation: no
    /// augmentation) calls code whose signature takes a generator (`makeBatch` without `rng` goes through
    /// here, so its callers pass nothing); debug builds check that nothing was drawn.
    public static func withoutDraws<T>(_ body: (inout RNG) throws -> T) rethrows -> T {
        let untouched = RNG(seed: 0)
        var rng = untouched
        let result = try body(&rng)
        assert(rng == untouched, "a path that draws nothing drew from its generator")
        return result
    }

    /// The generator of image `index`'s draws in `epoch` under `seed`: a pure function of the three, so what an
    /// image draws (its augmentation, its sketch or mask, its drop-path masks) does not depend on the batch it
    /// lands in, the thread count or the number of data-parallel ranks.
    public static func image(seed: UInt64, epoch: Int, index: Int) -> RNG {
        let mix = RNG.splitMix64
        return RNG(seed: mix(mix(mix(seed) ^ UInt64(truncatingIfNeeded: epoch)) ^ UInt64(truncatingIfNeeded: index)))
    }

    /// `count` independent generators, one draw of `rng` each: per-image generators for callers without
    /// dataset indices (pictures, benchmarks, tests).
    public static func split(_ rng: inout RNG, count: Int) -> [RNG] {
        (0..<count).map { _ in RNG(seed: rng.next()) }
    }

    /// An independent generator derived from this one's seed material and a stream id
    /// (e.g. one stream for data order, one for augmentation, one for sketches).
    public func derived(stream: UInt64) -> RNG {
        RNG(seed: state[0] ^ (state[2] &* RNG.golden) ^ (stream &* 0xD1B5_4A32_D192_ED03) &+ stream)
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = RNG.rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = RNG.rotl(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * uniform() }

    /// Uniform integer in 0..<n (Lemire's method, unbiased).
    public mutating func int(below n: Int) -> Int {
        precondition(n > 0)
        return Int(truncatingIfNeeded: next(upperBound: UInt64(n)))
    }

    /// Standard normal by Box–Muller (one value per call, deterministic).
    public mutating func normal() -> Double {
        var u1 = uniform()
        while u1 <= 0 { u1 = uniform() }
        let u2 = uniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// Normal(mean, std) truncated to [a, b] by rejection (timm's trunc_normal_ bounds are absolute).
    public mutating func truncatedNormal(mean: Double = 0, std: Double, a: Double = -2, b: Double = 2) -> Double {
        while true {
            let v = mean + std * normal()
            if v >= a && v <= b { return v }
        }
    }

    public mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }

    /// Fisher–Yates shuffle with this generator (own implementation so the order never depends on the stdlib).
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = int(below: i + 1)
            if i != j { a.swapAt(i, j) }
        }
    }

    public mutating func permutation(_ n: Int) -> [Int] {
        var p = Array(0..<n)
        shuffle(&p)
        return p
    }
}
