// Bicubic resizing of small channels-last grids, as torch.nn.functional.interpolate(mode="bicubic",
// align_corners=False, antialias=False): carries position tables learned on one grid to another.

public enum Bicubic {
    /// Keys' cubic convolution kernel with A = −0.75 (torch's constant), taps at −1, 0, 1, 2 for a
    /// fractional position t ∈ [0, 1). The weights sum to 1 (constants are kept exactly); a linear function
    /// comes back within 0.049 × its slope × one step (exact only with A = −0.5): −0.75 is kept for torch parity.
    @inline(__always) static func taps(_ t: Double) -> (Double, Double, Double, Double) {
        let a = -0.75
        func near(_ x: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }            // |x| ≤ 1
        func far(_ x: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }       // 1 < |x| < 2
        return (far(t + 1), near(t), near(1 - t), far(2 - t))
    }

    /// For each output position along one axis: 4 source indices (clamped to the edge, as torch) and their weights.
    /// align_corners=False: the source coordinate of output o is (o + ½)·in/out − ½, so the grids' outer
    /// edges (not their outer sample centres) line up and the centre maps to the centre.
    static func axis(from n: Int, to m: Int) -> [(index: [Int], weight: [Double])] {
        let scale = Double(n) / Double(m)
        return (0..<m).map { o in
            let x = (Double(o) + 0.5) * scale - 0.5
            let i = Int(x.rounded(.down)), t = x - Double(i)
            let w = taps(t)
            return ((i - 1...i + 2).map { min(max($0, 0), n - 1) }, [w.0, w.1, w.2, w.3])
        }
    }

    /// src [h, w, c] → [h', w', c] (row-major, channels last), `from` = (h, w), `to` = (h', w').
    /// Same size is returned unchanged.
    public static func resize(_ src: [Float], channels c: Int, from: (Int, Int), to: (Int, Int)) -> [Float] {
        let (h, w) = from, (h2, w2) = to
        precondition(src.count == h * w * c, "bicubic resize: \(src.count) values are not [\(h), \(w), \(c)]")
        precondition(h2 >= 1 && w2 >= 1, "bicubic resize to an empty grid \(h2)×\(w2)")
        if h == h2 && w == w2 { return src }
        // Separable: rows first into [h', w, c], then columns; accumulated in Double.
        var mid = [Double](repeating: 0, count: h2 * w * c)
        for (y2, k) in axis(from: h, to: h2).enumerated() {
            for (i, wt) in zip(k.index, k.weight) where wt != 0 {
                for e in 0..<(w * c) { mid[y2 * w * c + e] += wt * Double(src[i * w * c + e]) }
            }
        }
        var out = [Float](repeating: 0, count: h2 * w2 * c)
        let cols = axis(from: w, to: w2)
        for y2 in 0..<h2 {
            for (x2, k) in cols.enumerated() {
                for ch in 0..<c {
                    var s = 0.0
                    for (i, wt) in zip(k.index, k.weight) { s += wt * mid[(y2 * w + i) * c + ch] }
                    out[(y2 * w2 + x2) * c + ch] = Float(s)
                }
            }
        }
        return out
    }
}
