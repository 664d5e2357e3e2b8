// How ROPIM, SimMIM masking and MAE corrupt tokens (paper Fig. 7a): the fraction of each token's energy
// the corruption keeps, ‖(Op·X)_i‖² / ‖X_i‖², over many images and draws, and how many distinct
// corruption patterns each sampler can produce. MAE's encoder sees a random subset of the tokens whole
// (argsort of uniform noise, MAE.shuffle), so like SimMIM it keeps a token's energy entirely or not at
// all. X = the normalized pixel patches [K, p·p·C] (the decoder's target; the embedding is linear in
// them), not the embedded tokens.

import Foundation
import ROPIMCore
import ROPIMKernels
import ROPIMNN

/// Counts of per-token kept-energy fractions in right-closed bins (0, w], (w, 2w], … with the first bin
/// [0, w] and a final overflow bin (`upper`, ∞): masking's exact 1 lands in the bin ending at 1.
public struct KeptEnergyHistogram: Equatable, Sendable {
    public let binWidth: Double
    /// Upper edge of the last regular bin (fractions above it go to the overflow bin).
    public let upper: Double
    /// counts[0..<bins] regular bins, counts[bins] overflow.
    public private(set) var counts: [Int]
    /// Tokens with zero energy (fraction undefined); not in `counts`.
    public private(set) var undefined = 0
    /// Tokens kept entirely (fraction within 1e-6 of 1) or removed entirely (≤ 1e-6).
    public private(set) var exactlyOne = 0
    public private(set) var exactlyZero = 0
    private var sum = 0.0

    public init(binWidth: Double = 0.05, upper: Double = 2) {
        precondition(binWidth > 0 && upper > 0, "histogram needs a positive bin width and upper edge")
        self.binWidth = binWidth
        self.upper = upper
        counts = [Int](repeating: 0, count: Int((upper / binWidth).rounded()) + 1)
    }

    public var bins: Int { counts.count - 1 }
    /// Tokens counted (every token added: binned + undefined).
    public var total: Int { counts.reduce(0, +) + undefined }
    /// Mean kept fraction over the binned tokens.
    public var mean: Double { total - undefined > 0 ? sum / Double(total - undefined) : .nan }

    /// Bin index of a fraction f ≥ 0.
    public func bin(of f: Double) -> Int {
        if f > upper + 1e-12 { return bins }
        return Swift.min(Swift.max(0, Int((f / binWidth - 1e-9).rounded(.up)) - 1), bins - 1)
    }

    /// Adds one token; nil = zero energy.
    public mutating func add(_ f: Double?) {
        guard let f, f.isFinite else { undefined += 1; return }
        counts[bin(of: f)] += 1
        sum += f
        if abs(f - 1) <= 1e-6 { exactlyOne += 1 }
        if f <= 1e-6 { exactlyZero += 1 }
    }

    /// (low, high) edges of bin i; the overflow bin's high is +∞.
    public func edges(_ i: Int) -> (Double, Double) {
        i == bins ? (upper, .infinity) : (Double(i) * binWidth, Double(i + 1) * binWidth)
    }
}

/// The number of distinct corruption patterns: analytic (log10, exact when small) and seen in `draws` samples.
public struct PatternCount: Sendable {
    public var corruption: String
    public var what: String
    public var log10Count: Double
    public var draws: Int
    public var distinct: Int
    /// The exact count when it fits in 15 digits, else nil.
    public var exact: Double? { log10Count < 15 ? (pow(10, log10Count)).rounded() : nil }
}

public enum Combinatorics {
    /// log10(n!) via lgamma.
    public static func log10Factorial(_ n: Int) -> Double { lgamma(Double(n) + 1) / log(10) }
    /// log10 C(n, k).
    public static func log10Binomial(_ n: Int, _ k: Int) -> Double {
        guard k >= 0, k <= n else { return -.infinity }
        return log10Factorial(n) - log10Factorial(k) - log10Factorial(n - k)
    }
}

public struct CorruptionAnalysis {
    public let images: Int
    public let tokens: Int
    public let sketchSize: Int
    public let sampler: SketchSampler
    /// Masking at the same nominal ratio: mask patches hidden out of all, and tokens hidden per image.
    public let maskedPatches: Int, maskPatches: Int
    public internal(set) var maskedTokens: Int
    /// MAE at the same ratio: tokens its encoder sees per image (K' of K).
    public let maeVisible: Int
    public var rop: KeptEnergyHistogram
    public var mask: KeptEnergyHistogram
    public var mae: KeptEnergyHistogram
    /// Per token (image-major, raster order): energy ‖X_i‖², and the kept fractions (NaN when undefined).
    public var energy: [Float]
    public var ropKept: [Float]
    public var maskKept: [Float]
    public var maeKept: [Float]
    public var patterns: [PatternCount]
    /// Mean over images of ‖ΠX‖²/‖X‖² (the whole image's kept energy; ≈ ρ = K'/K for patch-like data).
    public var ropImageKept: Double

    public var rho: Double { Double(sketchSize) / Double(tokens) }

    /// Analyses `patches` [N·K, p·p·C] (normalized pixels of N images) under one fresh sketch, one fresh
    /// SimMIM mask and one fresh MAE masking per image. Masking hides round((1 − ρ)·G²) of the G² SimMIM mask
    /// patches (G = img/mask_patch); MAE keeps K' of the K tokens visible (ρ exactly).
    public static func run(patches: [Float], images n: Int, vit: ViTConfig, method: MethodConfig,
                           binWidth: Double = 0.05, upper: Double = 2, rng: inout RNG) throws -> CorruptionAnalysis {
        let k = vit.numPatches, pd = vit.patchDim, kp = method.sketchSize
        precondition(patches.count == n * k * pd, "\(patches.count) values for \(n) images × \(k) tokens × \(pd)")
        try SimMIM.validateMaskPatch(method.maskPatchSize, vit: vit)
        let g = vit.imgSize / method.maskPatchSize, g2 = g * g
        let rho = Double(kp) / Double(k)
        let masked = Swift.min(g2 - 1, Swift.max(1, g2 - Int((rho * Double(g2)).rounded())))
        // simMIMMask hides ⌈ratio·G²⌉ patches; a ratio half a patch below the count avoids float round-up.
        let ratio = (Double(masked) - 0.5) / Double(g2)
        var sketchRNG = rng.derived(stream: 0x5E7C), maskRNG = rng.derived(stream: 0x3A5C), maeRNG = rng.derived(stream: 0x3AE0)
        let scale = method.projectorScale

        var a = CorruptionAnalysis(images: n, tokens: k, sketchSize: kp, sampler: method.sampler,
                                   maskedPatches: masked, maskPatches: g2, maskedTokens: 0, maeVisible: kp,
                                   rop: KeptEnergyHistogram(binWidth: binWidth, upper: upper),
                                   mask: KeptEnergyHistogram(binWidth: binWidth, upper: upper),
                                   mae: KeptEnergyHistogram(binWidth: binWidth, upper: upper),
                                   energy: [], ropKept: [], maskKept: [], maeKept: [], patterns: [], ropImageKept: 0)
        var sketchSet = Set<[Int32]>(), projectorSet = Set<[Int32]>(), maskSet = Set<[Float]>(), maeSet = Set<[Bool]>()
        var maskedTokens = 0, imageKept = 0.0
        for b in 0..<n {
            let x = Array(patches[(b * k * pd)..<((b + 1) * k * pd)])
            let sketch = try CountSketch.sample(tokens: k, buckets: kp, sampler: method.sampler, rng: &sketchRNG)
            let m = simMIMMask(imgSize: vit.imgSize, patchSize: vit.patchSize, maskPatchSize: method.maskPatchSize,
                               ratio: ratio, rng: &maskRNG)
            maskedTokens = m.filter { $0 > 0 }.count
            sketchSet.insert(sketch.bucket + sketch.sign.map { Int32($0) })
            projectorSet.insert(canonicalProjector(sketch))
            maskSet.insert(m)
            var visible = [Bool](repeating: false, count: k)
            for t in MAE.shuffle(ArraySlice((0..<k).map { _ in Float(maeRNG.uniform()) })).prefix(kp) { visible[t] = true }
            maeSet.insert(visible)
            let px = TokenOperator.project(sketch, scale).apply(x, cols: pd)
            let mx = TokenOperator.rows(m.map { $0 == 0 }).apply(x, cols: pd)
            let vx = TokenOperator.rows(visible).apply(x, cols: pd)
            var total = 0.0, kept = 0.0
            for t in 0..<k {
                let e = rowEnergy(x, t, pd), ep = rowEnergy(px, t, pd), em = rowEnergy(mx, t, pd), ev = rowEnergy(vx, t, pd)
                total += e; kept += ep
                let defined = e > 1e-12
                a.energy.append(Float(e))
                a.ropKept.append(defined ? Float(ep / e) : .nan)
                a.maskKept.append(defined ? Float(em / e) : .nan)
                a.maeKept.append(defined ? Float(ev / e) : .nan)
                a.rop.add(defined ? ep / e : nil)
                a.mask.add(defined ? em / e : nil)
                a.mae.add(defined ? ev / e : nil)
            }
            imageKept += total > 0 ? kept / total : 0
        }
        a.ropImageKept = imageKept / Double(Swift.max(n, 1))
        a.maskedTokens = maskedTokens
        let c = k / kp
        switch method.sampler {
        case .balanced:
            a.patterns.append(PatternCount(corruption: "rop", what: "sketches (h, s): (K'!)^(K/K') * C(K, floor(K/2))",
                                           log10Count: Double(c) * Combinatorics.log10Factorial(kp) + Combinatorics.log10Binomial(k, k / 2),
                                           draws: n, distinct: sketchSet.count))
            a.patterns.append(PatternCount(corruption: "rop", what: "projectors: bucket partitions (K'!)^(K/K'-1), signs <= 2^(K-K') each",
                                           log10Count: Double(c - 1) * Combinatorics.log10Factorial(kp) + Double(k - kp) * log10(2.0),
                                           draws: n, distinct: projectorSet.count))
        case .iid:
            a.patterns.append(PatternCount(corruption: "rop", what: "sketches (h, s): K'^K * 2^K",
                                           log10Count: Double(k) * (log10(Double(kp)) + log10(2.0)), draws: n, distinct: sketchSet.count))
            a.patterns.append(PatternCount(corruption: "rop", what: "projectors: at most K'^K * 2^K",
                                           log10Count: Double(k) * (log10(Double(kp)) + log10(2.0)), draws: n, distinct: projectorSet.count))
        }
        a.patterns.append(PatternCount(corruption: "mask", what: "masks: C(G^2, masked) = C(\(g2), \(masked))",
                                       log10Count: Combinatorics.log10Binomial(g2, masked), draws: n, distinct: maskSet.count))
        a.patterns.append(PatternCount(corruption: "mae", what: "visible sets: C(K, K') = C(\(k), \(kp))",
                                       log10Count: Combinatorics.log10Binomial(k, kp), draws: n, distinct: maeSet.count))
        return a
    }

    @inline(__always) static func rowEnergy(_ x: [Float], _ t: Int, _ cols: Int) -> Double {
        var s = 0.0
        for j in (t * cols)..<((t + 1) * cols) { s += Double(x[j]) * Double(x[j]) }
        return s
    }

    /// Π identifies (h, s) up to relabelling buckets and flipping a bucket's signs: per token, the first
    /// token of its bucket and its sign relative to that token.
    public static func canonicalProjector(_ s: CountSketch) -> [Int32] {
        var first = [Int32](repeating: -1, count: s.buckets)
        var out = [Int32]()
        out.reserveCapacity(2 * s.tokens)
        for i in 0..<s.tokens {
            let j = Int(s.bucket[i])
            if first[j] < 0 { first[j] = Int32(i) }
            out.append(first[j])
            out.append(s.sign[i] == s.sign[Int(first[j])] ? 1 : -1)
        }
        return out
    }

    // MARK: output

    /// kept_energy.csv: one row per bin.
    public var histogramCSV: String {
        var s = "bin_low,bin_high,rop_tokens,mask_tokens,mae_tokens\n"
        for i in 0...rop.bins {
            let (lo, hi) = rop.edges(i)
            s += "\(fmt(lo)),\(hi.isFinite ? fmt(hi) : "inf"),\(rop.counts[i]),\(mask.counts[i]),\(mae.counts[i])\n"
        }
        return s
    }

    /// tokens.csv: one row per token of every image.
    public var tokensCSV: String {
        var s = "image,token,energy,rop_kept,mask_kept,mae_kept\n"
        func value(_ v: Float) -> String { v.isNaN ? "" : String(v) }
        for i in 0..<energy.count {
            s += "\(i / tokens),\(i % tokens),\(energy[i]),\(value(ropKept[i])),\(value(maskKept[i])),\(value(maeKept[i]))\n"
        }
        return s
    }

    /// patterns.csv: analytic and empirical pattern counts.
    public var patternsCSV: String {
        var s = "corruption,what,log10_count,count,draws,distinct\n"
        for p in patterns {
            s += "\(p.corruption),\"\(p.what)\",\(String(format: "%.3f", p.log10Count)),\(p.exact.map { String(format: "%.0f", $0) } ?? ""),\(p.draws),\(p.distinct)\n"
        }
        return s
    }

    /// Summary lines for people (also the figure's notes).
    public var summary: [String] {
        func pct(_ x: Int, _ of: Int) -> String { String(format: "%.1f%%", 100 * Double(x) / Double(Swift.max(of, 1))) }
        let tot = rop.total - rop.undefined
        var lines = [
            "\(images) images x \(tokens) tokens; ROPIM K'=\(sketchSize) (rho=\(String(format: "%.3f", rho)), \(sampler.rawValue) sampler) vs masking \(maskedPatches)/\(maskPatches) mask patches (\(maskedTokens)/\(tokens) tokens, ratio \(String(format: "%.3f", Double(maskedPatches) / Double(maskPatches))))",
            "ROPIM: tokens untouched (kept = 1) \(pct(rop.exactlyOne, tot)), removed (kept = 0) \(pct(rop.exactlyZero, tot)), mean kept \(String(format: "%.3f", rop.mean)); image energy kept \(String(format: "%.3f", ropImageKept))",
            "mask:  tokens untouched (kept = 1) \(pct(mask.exactlyOne, tot)), removed (kept = 0) \(pct(mask.exactlyZero, tot)), mean kept \(String(format: "%.3f", mask.mean))",
            "MAE:   \(maeVisible)/\(tokens) tokens visible; tokens untouched (kept = 1) \(pct(mae.exactlyOne, tot)), removed (kept = 0) \(pct(mae.exactlyZero, tot)), mean kept \(String(format: "%.3f", mae.mean))",
        ]
        for p in patterns {
            lines.append("\(p.corruption) \(p.what): 10^\(String(format: "%.2f", p.log10Count)); \(p.distinct) distinct in \(p.draws) draws")
        }
        if rop.undefined > 0 { lines.append("\(rop.undefined) zero-energy tokens left out of the histogram") }
        return lines
    }

    /// The histogram as a figure: share of tokens per kept-fraction bin, ROPIM and masking side by side.
    public func figure(title: String) -> Figure {
        let tot = Double(Swift.max(rop.total - rop.undefined, 1))
        let w = rop.binWidth
        func points(_ h: KeptEnergyHistogram) -> [(x: Double, y: Double)] {
            (0...h.bins).map { i in
                let (lo, _) = h.edges(i)
                return (x: i == h.bins ? lo + w / 2 : lo + w / 2, y: 100 * Double(h.counts[i]) / tot)
            }
        }
        let ropColor = RGB.palette[0], maskColor = RGB.palette[3], maeColor = RGB.palette[2]
        let bar = w * 0.3   // three bars side by side per bin
        let panel = Panel(title: "fraction of each token's energy kept, ||(Op X)_i||^2 / ||X_i||^2 (last bar: > \(fmt(rop.upper)))",
                          xLabel: "kept fraction (X = normalized pixel patches)", yLabel: "% of tokens",
                          series: [Series(name: "ROPIM", color: ropColor, points: points(rop), style: .bars(width: bar, offset: -bar)),
                                   Series(name: "mask", color: maskColor, points: points(mask), style: .bars(width: bar, offset: 0)),
                                   Series(name: "MAE", color: maeColor, points: points(mae), style: .bars(width: bar, offset: bar))],
                          includeZero: true, xRange: 0...(rop.upper + w))
        return Figure(title: title, notes: summary,
                      legend: [(name: "ROPIM (Pi X, K'=\(sketchSize))", color: ropColor),
                               (name: "SimMIM masking (\(maskedPatches)/\(maskPatches) mask patches)", color: maskColor),
                               (name: "MAE (\(maeVisible)/\(tokens) tokens visible)", color: maeColor)],
                      panels: [panel], columns: 1, panelWidth: 900, panelHeight: 340)
    }

    private func fmt(_ v: Double) -> String { String(format: "%.2f", v) }
}
