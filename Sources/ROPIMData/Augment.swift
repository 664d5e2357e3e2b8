// Photometric and geometric augmentations on uint8 images (as PIL does them, so timm's recipes carry
// over): ColorJitter, RandAugment (`rand-m9-mstd0.5-inc1`), and RandomErasing on the normalized
// tensor. Every draw comes from the RNG passed in, in a fixed order.

import Foundation
import ROPIMKernels

// MARK: Pixel operations (PIL semantics)

enum PixelOps {
    @inline(__always) static func clampByte(_ v: Float) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }

    /// Applies a 256-entry table to every channel (`tables[c]`, or one table for all).
    static func lut(_ img: inout UInt8Image, _ tables: [[UInt8]]) {
        let n = img.height * img.width
        for c in 0..<img.channels {
            let t = tables.count == 1 ? tables[0] : tables[c]
            for k in c * n..<(c + 1) * n { img.pixels[k] = t[Int(img.pixels[k])] }
        }
    }

    /// PIL luma of every pixel (`ImageCodec.luma`), as a plane.
    static func gray(_ img: UInt8Image) -> [UInt8] {
        let n = img.height * img.width
        if img.channels == 1 { return Array(img.pixels[0..<n]) }
        return (0..<n).map { k in
            ImageCodec.luma(img.pixels[k], img.pixels[n + k], img.pixels[2 * n + k])
        }
    }

    /// out = degenerate + factor·(img − degenerate), rounded and clamped (PIL `Image.blend`);
    /// `degenerate` has one plane per channel, or one shared plane.
    static func blend(_ img: inout UInt8Image, degenerate: [UInt8], factor: Float) {
        let n = img.height * img.width
        let shared = degenerate.count == n
        for c in 0..<img.channels {
            for k in 0..<n {
                let d = Float(degenerate[shared ? k : c * n + k])
                img.pixels[c * n + k] = clampByte(d + factor * (Float(img.pixels[c * n + k]) - d))
            }
        }
    }

    static func brightness(_ img: inout UInt8Image, _ f: Float) {
        blend(&img, degenerate: [UInt8](repeating: 0, count: img.height * img.width), factor: f)
    }

    static func contrast(_ img: inout UInt8Image, _ f: Float) {
        let g = gray(img)
        let mean = UInt8(Double(g.reduce(0) { $0 + Int($1) }) / Double(max(g.count, 1)) + 0.5)
        blend(&img, degenerate: [UInt8](repeating: mean, count: g.count), factor: f)
    }

    /// Saturation (PIL `ImageEnhance.Color`): blend with the gray image. Gray input is unchanged.
    static func color(_ img: inout UInt8Image, _ f: Float) {
        guard img.channels == 3 else { return }
        blend(&img, degenerate: gray(img), factor: f)
    }

    /// PIL `ImageEnhance.Sharpness`: blend with the image smoothed by [[1,1,1],[1,5,1],[1,1,1]]/13,
    /// border pixels left as they are.
    static func sharpness(_ img: inout UInt8Image, _ f: Float) {
        let (h, w) = (img.height, img.width)
        guard h > 2, w > 2 else { return }
        var deg = img.pixels
        for c in 0..<img.channels {
            let o = c * h * w
            for y in 1..<h - 1 { for x in 1..<w - 1 {
                var s = 4 * Int(img.pixels[o + y * w + x])
                for dy in -1...1 { for dx in -1...1 { s += Int(img.pixels[o + (y + dy) * w + x + dx]) } }
                deg[o + y * w + x] = UInt8(min(255, (Double(s) / 13).rounded()))
            } }
        }
        blend(&img, degenerate: deg, factor: f)
    }

    /// PIL `ImageOps.autocontrast` (cutoff 0): stretch each channel's [min, max] to [0, 255].
    static func autoContrast(_ img: inout UInt8Image) {
        let n = img.height * img.width
        let tables: [[UInt8]] = (0..<img.channels).map { c in
            let plane = img.pixels[c * n..<(c + 1) * n]
            let lo = Int(plane.min()!), hi = Int(plane.max()!)
            guard hi > lo else { return (0..<256).map { UInt8($0) } }
            let scale = 255.0 / Double(hi - lo), offset = -Double(lo) * scale
            return (0..<256).map { UInt8(max(0, min(255, Int(Double($0) * scale + offset)))) }
        }
        lut(&img, tables)
    }

    /// PIL `ImageOps.equalize`: per channel, histogram-equalizing table.
    static func equalize(_ img: inout UInt8Image) {
        let n = img.height * img.width
        let tables: [[UInt8]] = (0..<img.channels).map { c in
            var hist = [Int](repeating: 0, count: 256)
            for k in c * n..<(c + 1) * n { hist[Int(img.pixels[k])] += 1 }
            let nonzero = hist.filter { $0 > 0 }
            let identity = (0..<256).map { UInt8($0) }
            guard nonzero.count > 1 else { return identity }
            let step = (nonzero.reduce(0, +) - nonzero.last!) / 256
            guard step > 0 else { return identity }
            var acc = step / 2
            return (0..<256).map { i in
                defer { acc += hist[i] }
                return UInt8(min(255, acc / step))
            }
        }
        lut(&img, tables)
    }

    /// PIL `Image.transform(AFFINE)` with bilinear sampling: output pixel centre (x, y) reads the input at
    /// (a·x + b·y + c, d·x + e·y + f); points outside the image take `fill` (one value per channel).
    static func affine(_ img: inout UInt8Image, _ m: (Double, Double, Double, Double, Double, Double), fill: [UInt8]) {
        let (h, w) = (img.height, img.width)
        let src = img.pixels
        for y in 0..<h { for x in 0..<w {
            let xc = Double(x) + 0.5, yc = Double(y) + 0.5
            let xi = m.0 * xc + m.1 * yc + m.2, yi = m.3 * xc + m.4 * yc + m.5
            let inside = xi >= 0 && xi < Double(w) && yi >= 0 && yi < Double(h)
            let fx = xi - 0.5, fy = yi - 0.5
            let x0 = Int(fx.rounded(.down)), y0 = Int(fy.rounded(.down))
            let lx = Float(fx - Double(x0)), ly = Float(fy - Double(y0))
            let xa = max(0, min(x0, w - 1)), xb = max(0, min(x0 + 1, w - 1))
            let ya = max(0, min(y0, h - 1)), yb = max(0, min(y0 + 1, h - 1))
            for c in 0..<img.channels {
                let o = c * h * w
                guard inside else { img.pixels[o + y * w + x] = fill[min(c, fill.count - 1)]; continue }
                let top = (1 - lx) * Float(src[o + ya * w + xa]) + lx * Float(src[o + ya * w + xb])
                let bottom = (1 - lx) * Float(src[o + yb * w + xa]) + lx * Float(src[o + yb * w + xb])
                img.pixels[o + y * w + x] = clampByte((1 - ly) * top + ly * bottom)
            }
        } }
    }

    /// PIL `Image.rotate(degrees)` (counter-clockwise about the centre, same size).
    static func rotate(_ img: inout UInt8Image, degrees: Double, fill: [UInt8]) {
        let a = -degrees * Double.pi / 180
        let (cx, cy) = (Double(img.width) / 2, Double(img.height) / 2)
        let (p, q, r, s) = (cos(a), sin(a), -sin(a), cos(a))
        affine(&img, (p, q, p * -cx + q * -cy + cx, r, s, r * -cx + s * -cy + cy), fill: fill)
    }

    /// torchvision's hue shift: RGB → HSV, h += shift (turns), → RGB.
    static func hue(_ img: inout UInt8Image, _ shift: Double) {
        guard img.channels == 3 else { return }
        let n = img.height * img.width
        for k in 0..<n {
            let r = Double(img.pixels[k]) / 255, g = Double(img.pixels[n + k]) / 255, b = Double(img.pixels[2 * n + k]) / 255
            let mx = max(r, g, b), mn = min(r, g, b), d = mx - mn
            var hh = 0.0
            if d > 0 {
                if mx == r { hh = ((g - b) / d).truncatingRemainder(dividingBy: 6) }
                else if mx == g { hh = (b - r) / d + 2 } else { hh = (r - g) / d + 4 }
                hh /= 6
            }
            let sat = mx > 0 ? d / mx : 0
            var hs = (hh + shift).truncatingRemainder(dividingBy: 1)
            if hs < 0 { hs += 1 }
            let i = Int(hs * 6) % 6, f = hs * 6 - Double(Int(hs * 6))
            let pv = mx * (1 - sat), qv = mx * (1 - sat * f), tv = mx * (1 - sat * (1 - f))
            let (ro, go, bo): (Double, Double, Double)
            switch i {
            case 0: (ro, go, bo) = (mx, tv, pv)
            case 1: (ro, go, bo) = (qv, mx, pv)
            case 2: (ro, go, bo) = (pv, mx, tv)
            case 3: (ro, go, bo) = (pv, qv, mx)
            case 4: (ro, go, bo) = (tv, pv, mx)
            default: (ro, go, bo) = (mx, pv, qv)
            }
            img.pixels[k] = clampByte(Float(ro * 255)); img.pixels[n + k] = clampByte(Float(go * 255))
            img.pixels[2 * n + k] = clampByte(Float(bo * 255))
        }
    }
}

// MARK: ColorJitter

/// torchvision `ColorJitter(brightness, contrast, saturation, hue)`: factors drawn uniformly from
/// [max(0, 1 − v), 1 + v] (hue from [−h, h] turns), applied in a random order.
public struct ColorJitter: Equatable, Sendable {
    public var brightness: Double, contrast: Double, saturation: Double, hue: Double

    /// One value (b = c = s), three (b, c, s) or four (b, c, s, h), as timm's `--color-jitter`.
    public init(_ v: [Double]) throws {
        guard [1, 3, 4].contains(v.count), v.allSatisfy({ $0 >= 0 }), v.count < 4 || v[3] <= 0.5 else {
            throw DataError("augment.color_jitter \(v): give 1, 3 or 4 non-negative numbers (brightness, contrast, saturation[, hue ≤ 0.5]), e.g. [0.4]")
        }
        brightness = v[0]; contrast = v.count > 1 ? v[1] : v[0]; saturation = v.count > 1 ? v[2] : v[0]; hue = v.count > 3 ? v[3] : 0
    }

    public func apply(_ img: inout UInt8Image, rng: inout RNG) {
        let order = rng.permutation(4)
        func factor(_ v: Double) -> Float? { v > 0 ? Float(rng.uniform(max(0, 1 - v), 1 + v)) : nil }
        let b = factor(brightness), c = factor(contrast), s = factor(saturation)
        let h = hue > 0 ? rng.uniform(-hue, hue) : nil
        for op in order {
            switch op {
            case 0: if let b { PixelOps.brightness(&img, b) }
            case 1: if let c { PixelOps.contrast(&img, c) }
            case 2: if let s { PixelOps.color(&img, s) }
            default: if let h { PixelOps.hue(&img, h) }
            }
        }
    }
}

// MARK: RandAugment

/// timm's RandAugment: `layers` ops chosen uniformly with replacement from 15, each applied with
/// probability `prob` at a magnitude drawn from N(m, mstd) clamped to [0, mmax] (on timm's 0…10 scale).
/// `inc1` uses the "increasing" variants (stronger with magnitude). Geometric ops fill with the dataset
/// mean and sample bilinearly.
public struct RandAugment: Equatable, Sendable {
    public var layers = 2
    public var magnitude = 10.0
    public var magnitudeStd = 0.0
    public var magnitudeMax = 10.0
    public var increasing = false
    public var prob = 0.5

    public enum Op: Int, CaseIterable, Sendable {
        case autoContrast, equalize, invert, rotate, posterize, solarize, solarizeAdd, color, contrast, brightness,
             sharpness, shearX, shearY, translateX, translateY
    }

    /// Parses timm's spec, e.g. `rand-m9-mstd0.5-inc1` (keys: m, n, mstd, mmax, inc, p).
    public init(spec: String) throws {
        let parts = spec.split(separator: "-").map(String.init)
        func bad(_ why: String) -> DataError {
            DataError("augment.rand_augment '\(spec)': \(why); write it as timm does, e.g. rand-m9-mstd0.5-inc1 "
                + "(m magnitude 0…10, n ops, mstd magnitude std, mmax upper bound, inc 0/1 increasing ops, p probability)")
        }
        guard parts.first == "rand" else { throw bad("it must start with 'rand'") }
        for p in parts.dropFirst() {
            let key = p.prefix(while: { $0.isLetter }), value = Double(p.dropFirst(key.count))
            guard let value else { throw bad("'\(p)' has no number") }
            switch key {
            case "m": magnitude = value
            case "n": layers = Int(value)
            case "mstd": magnitudeStd = value
            case "mmax": magnitudeMax = value
            case "inc": increasing = value != 0
            case "p": prob = value
            default: throw bad("unknown key '\(key)'")
            }
        }
        guard layers >= 0, magnitude >= 0, magnitudeStd >= 0, (0...1).contains(prob) else { throw bad("a value is out of range") }
    }

    /// Applies the ops to `img`; `fill` is the per-channel fill of geometric ops (timm: the mean × 255).
    /// Returns the ops drawn (applied or not), for tests.
    @discardableResult
    public func apply(_ img: inout UInt8Image, fill: [UInt8], rng: inout RNG) -> [Op] {
        let ops = (0..<layers).map { _ in Op(rawValue: rng.int(below: Op.allCases.count))! }
        for op in ops {
            if prob < 1 && rng.uniform() > prob { continue }
            var m = magnitude
            if magnitudeStd == .infinity { m = rng.uniform(0, m) } else if magnitudeStd > 0 { m += magnitudeStd * rng.normal() }
            m = max(0, min(m, magnitudeMax))
            let level = m / 10
            func signed(_ v: Double) -> Double { rng.uniform() > 0.5 ? -v : v }
            switch op {
            case .autoContrast: PixelOps.autoContrast(&img)
            case .equalize: PixelOps.equalize(&img)
            case .invert: PixelOps.lut(&img, [(0..<256).map { UInt8(255 - $0) }])
            case .rotate: PixelOps.rotate(&img, degrees: signed(level * 30), fill: fill)
            case .posterize:
                let bits = increasing ? 4 - Int(level * 4) : Int(level * 4)
                let mask = UInt8(truncatingIfNeeded: ~((1 << (8 - max(0, min(8, bits)))) - 1))
                PixelOps.lut(&img, [(0..<256).map { UInt8($0) & mask }])
            case .solarize:
                let threshold = increasing ? 256 - Int(level * 256) : Int(level * 256)
                PixelOps.lut(&img, [(0..<256).map { $0 < threshold ? UInt8($0) : UInt8(255 - $0) }])
            case .solarizeAdd:
                let add = Int(level * 110)
                PixelOps.lut(&img, [(0..<256).map { $0 < 128 ? UInt8(min(255, $0 + add)) : UInt8($0) }])
            case .color, .contrast, .brightness, .sharpness:
                let f = Float(increasing ? max(0.1, 1 + signed(level * 0.9)) : level * 1.8 + 0.1)
                switch op {
                case .color: PixelOps.color(&img, f)
                case .contrast: PixelOps.contrast(&img, f)
                case .brightness: PixelOps.brightness(&img, f)
                default: PixelOps.sharpness(&img, f)
                }
            case .shearX: PixelOps.affine(&img, (1, signed(level * 0.3), 0, 0, 1, 0), fill: fill)
            case .shearY: PixelOps.affine(&img, (1, 0, 0, signed(level * 0.3), 1, 0), fill: fill)
            case .translateX: PixelOps.affine(&img, (1, 0, signed(level * 0.45) * Double(img.width), 0, 1, 0), fill: fill)
            case .translateY: PixelOps.affine(&img, (1, 0, 0, 0, 1, signed(level * 0.45) * Double(img.height)), fill: fill)
            }
        }
        return ops
    }
}

// MARK: RandomErasing

/// timm `RandomErasing(mode="pixel")` on a normalized [C, H, W] image: with probability `prob`, one box of
/// area ∈ [minArea, maxArea]·H·W and log-uniform aspect ∈ [minAspect, 1/minAspect] (10 tries) is filled
/// with N(0, 1) noise per pixel and channel.
public struct RandomErasing: Equatable, Sendable {
    public var prob: Double
    public var minArea = 0.02
    public var maxArea = 1.0 / 3
    public var minAspect = 0.3

    public init(prob: Double) { self.prob = prob }

    /// Returns the erased box, or nil.
    @discardableResult
    public func apply(_ img: UnsafeMutablePointer<Float>, channels: Int, height: Int, width: Int, rng: inout RNG) -> CropBox? {
        guard rng.uniform() < prob else { return nil }
        let area = Double(height * width)
        let logLo = log(minAspect), logHi = log(1 / minAspect)
        for _ in 0..<10 {
            let target = rng.uniform(minArea, maxArea) * area
            let aspect = exp(rng.uniform(logLo, logHi))
            let h = Int((target * aspect).squareRoot().rounded()), w = Int((target / aspect).squareRoot().rounded())
            guard w < width, h < height, w > 0, h > 0 else { continue }
            let top = rng.int(below: height - h + 1), left = rng.int(below: width - w + 1)
            for c in 0..<channels { for y in top..<top + h { for x in left..<left + w {
                img[(c * height + y) * width + x] = Float(rng.normal())
            } } }
            return CropBox(x: Double(left), y: Double(top), width: Double(w), height: Double(h))
        }
        return nil
    }
}
