// Classification targets and their loss: label smoothing, Mixup and CutMix as timm's `Mixup` in batch
// mode (one λ per batch, each image mixed with the batch reversed), and soft-target cross-entropy.

import Foundation
import ROPIMKernels

/// Mixup/CutMix settings (timm names: mixup_alpha, cutmix_alpha, prob, switch_prob, label_smoothing).
public struct MixupSettings: Equatable, Sendable {
    public var mixupAlpha: Double
    public var cutmixAlpha: Double
    public var prob: Double
    public var switchProb: Double
    public var labelSmoothing: Double
    public var classes: Int
    public init(mixupAlpha: Double = 0.8, cutmixAlpha: Double = 1.0, prob: Double = 1.0, switchProb: Double = 0.5,
                labelSmoothing: Double = 0.1, classes: Int) {
        self.mixupAlpha = mixupAlpha; self.cutmixAlpha = cutmixAlpha; self.prob = prob
        self.switchProb = switchProb; self.labelSmoothing = labelSmoothing; self.classes = classes
    }
}

/// A CutMix box: rows y0..<y1, columns x0..<x1.
public struct CutBox: Equatable, Sendable {
    public var y0: Int, y1: Int, x0: Int, x1: Int
    public var area: Int { (y1 - y0) * (x1 - x0) }
}

/// What was done to one batch.
public struct MixDecision: Equatable, Sendable {
    /// Weight of each image's own label (1 = not mixed); for CutMix, corrected to the clipped box's area.
    public var lambda: Double
    /// The pasted box when CutMix was used.
    public var box: CutBox?
}

public enum Mixup {
    /// Gamma(shape, 1) by Marsaglia–Tsang (shape < 1 via Gamma(shape + 1)·U^(1/shape)).
    public static func gamma(_ shape: Double, rng: inout RNG) -> Double {
        if shape < 1 {
            var u = rng.uniform()
            while u <= 0 { u = rng.uniform() }
            return gamma(shape + 1, rng: &rng) * Foundation.pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            let x = rng.normal()
            var v = 1 + c * x
            if v <= 0 { continue }
            v = v * v * v
            var u = rng.uniform()
            while u <= 0 { u = rng.uniform() }
            if Foundation.log(u) < 0.5 * x * x + d - d * v + d * Foundation.log(v) { return d * v }
        }
    }

    /// Beta(α, α).
    public static func beta(_ alpha: Double, rng: inout RNG) -> Double {
        let a = gamma(alpha, rng: &rng), b = gamma(alpha, rng: &rng)
        return a / (a + b)
    }

    /// timm `rand_bbox` + `correct_lam`: a box of sides ⌊H·√(1−λ)⌋ × ⌊W·√(1−λ)⌋ centred at a uniform pixel,
    /// clipped to the image; λ is then 1 − box area / (H·W).
    public static func cutmixBox(height h: Int, width w: Int, lambda: Double, rng: inout RNG) -> (CutBox, Double) {
        let ratio = (1 - lambda).squareRoot()
        let ch = Int(Double(h) * ratio), cw = Int(Double(w) * ratio)
        let cy = rng.int(below: h), cx = rng.int(below: w)
        func clip(_ v: Int, _ hi: Int) -> Int { Swift.max(0, Swift.min(v, hi)) }
        let box = CutBox(y0: clip(cy - ch / 2, h), y1: clip(cy + ch / 2, h), x0: clip(cx - cw / 2, w), x1: clip(cx + cw / 2, w))
        return (box, 1 - Double(box.area) / Double(h * w))
    }

    /// One-hot with smoothing: off = s / C, on = 1 − s + off (timm `one_hot`).
    public static func smoothedOneHot(_ label: Int, classes: Int, smoothing: Double, into t: UnsafeMutablePointer<Float>) {
        let off = Float(smoothing / Double(classes)), on = Float(1 - smoothing) + off
        for c in 0..<classes { t[c] = c == label ? on : off }
    }

    /// Mixes images [B, C, H, W] in place with the batch reversed and returns the targets [B·classes]
    /// = λ·smooth(y) + (1 − λ)·smooth(y reversed).
    @discardableResult
    public static func apply(images: Tensor, labels: [Int], settings s: MixupSettings, rng: inout RNG,
                             targets: Tensor) -> MixDecision {
        let b = labels.count, k = s.classes
        precondition(images.shape.count == 4 && images.shape[0] == b, "mixup wants images [B, C, H, W] for \(b) labels, got \(images.shape)")
        let (c, h, w) = (images.shape[1], images.shape[2], images.shape[3])
        var decision = MixDecision(lambda: 1, box: nil)
        let enabled = s.mixupAlpha > 0 || s.cutmixAlpha > 0
        if enabled && rng.uniform() < s.prob {
            let useCutmix = s.mixupAlpha > 0 && s.cutmixAlpha > 0 ? rng.uniform() < s.switchProb : s.cutmixAlpha > 0
            let lam = beta(useCutmix ? s.cutmixAlpha : s.mixupAlpha, rng: &rng)
            if useCutmix {
                let (box, corrected) = cutmixBox(height: h, width: w, lambda: lam, rng: &rng)
                decision = MixDecision(lambda: corrected, box: box)
            } else {
                decision = MixDecision(lambda: lam, box: nil)
            }
        }
        if decision.lambda < 1 {
            let original = images.clone()   // x.flip(0) reads the unmixed batch
            let per = c * h * w, lam = Float(decision.lambda)
            for i in 0..<b {
                let dst = images.data + i * per, src = original.data + (b - 1 - i) * per
                if let box = decision.box {
                    for ch in 0..<c { for y in box.y0..<box.y1 {
                        let o = (ch * h + y) * w
                        (dst + o + box.x0).update(from: src + o + box.x0, count: box.x1 - box.x0)
                    } }
                } else {
                    for j in 0..<per { dst[j] = lam * dst[j] + (1 - lam) * src[j] }
                }
            }
        }
        targets.resize([b, k])
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: k)
        defer { tmp.deallocate() }
        let lam = Float(decision.lambda)
        for i in 0..<b {
            let t = targets.data + i * k
            smoothedOneHot(labels[i], classes: k, smoothing: s.labelSmoothing, into: t)
            smoothedOneHot(labels[b - 1 - i], classes: k, smoothing: s.labelSmoothing, into: tmp)
            for j in 0..<k { t[j] = lam * t[j] + (1 - lam) * tmp[j] }
        }
        return decision
    }
}

public enum SoftmaxCrossEntropy {
    /// Mean over the batch of −Σ_c t[c]·log softmax(z)[c]; dLogits (if given) = (softmax(z) − t)/B.
    public static func loss(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, batch: Int, classes: Int,
                            dLogits: UnsafeMutablePointer<Float>?) -> Double {
        var total = 0.0
        for b in 0..<batch {
            let z = logits + b * classes, t = targets + b * classes
            var m = -Float.infinity
            for c in 0..<classes { m = Swift.max(m, z[c]) }
            var s = 0.0
            for c in 0..<classes { s += Foundation.exp(Double(z[c] - m)) }
            let logZ = Double(m) + Foundation.log(s)
            for c in 0..<classes {
                total -= Double(t[c]) * (Double(z[c]) - logZ)
                if let dLogits { dLogits[b * classes + c] = Float((Foundation.exp(Double(z[c]) - logZ) - Double(t[c])) / Double(batch)) }
            }
        }
        return total / Double(batch)
    }

    /// Hard-label loss sum and top-1/top-5 hit counts of logits [B, classes].
    public static func evaluate(logits: UnsafePointer<Float>, labels: ArraySlice<Int>, classes: Int) -> (lossSum: Double, top1: Int, top5: Int) {
        var lossSum = 0.0, top1 = 0, top5 = 0
        for (b, y) in labels.enumerated() {
            let z = logits + b * classes
            var m = -Float.infinity
            for c in 0..<classes { m = Swift.max(m, z[c]) }
            var s = 0.0
            for c in 0..<classes { s += Foundation.exp(Double(z[c] - m)) }
            lossSum += Double(m) + Foundation.log(s) - Double(z[y])
            // Rank of the true class: classes scoring higher, or equal with a lower index (argmax picks the first).
            var higher = 0
            for c in 0..<classes where z[c] > z[y] || (z[c] == z[y] && c < y) { higher += 1 }
            if higher == 0 { top1 += 1 }
            if higher < 5 { top5 += 1 }
        }
        return (lossSum, top1, top5)
    }
}
