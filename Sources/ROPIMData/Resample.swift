// Separable resampling of a box of a uint8 image: bicubic as torch's `interpolate` (A = −0.75, no
// antialias) for augmentation, and antialiased bilinear/bicubic as PIL's `resize` for shrinking whole
// images once (stored size, evaluation resize). Bilinear without antialias stays in Transforms.

import Foundation

/// Resampling filter for crops and resizes.
public enum Interpolation: String, Codable, CaseIterable, Sendable {
    case bilinear, bicubic
}

enum Resample {
    /// Per output position, `taps` source indices (already clamped into the image) and weights.
    struct Kernel {
        var taps: Int
        var index: [Int]
        var weight: [Float]
    }

    @inline(__always) static func cubic(_ x: Double, a: Double) -> Double {
        let x = abs(x)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Weights for `size` outputs over [start, start+extent) of an axis of `length` pixels.
    /// antialias false: torch semantics on the cropped axis (bilinear or bicubic A = −0.75, indices clamped
    /// to the crop). antialias true: PIL semantics (filter widened by the shrink factor, bicubic A = −0.5,
    /// indices clamped to the image).
    static func kernel(start: Double, extent: Double, length: Int, size: Int, interpolation: Interpolation,
                       antialias: Bool) -> Kernel {
        let scale = extent / Double(size)
        if !antialias {
            let first = Int(start.rounded(.down))
            let last = min(length - 1, Int((start + extent).rounded(.up)) - 1)
            let taps = interpolation == .bicubic ? 4 : 2
            var k = Kernel(taps: taps, index: [], weight: [])
            k.index.reserveCapacity(size * taps); k.weight.reserveCapacity(size * taps)
            for o in 0..<size {
                if interpolation == .bicubic {
                    let p = start + scale * (Double(o) + 0.5) - 0.5
                    let i = Int(p.rounded(.down)), t = p - Double(i)
                    for (d, w) in [(-1, cubic(t + 1, a: -0.75)), (0, cubic(t, a: -0.75)),
                                   (1, cubic(1 - t, a: -0.75)), (2, cubic(2 - t, a: -0.75))] {
                        k.index.append(max(first, min(i + d, last))); k.weight.append(Float(w))
                    }
                } else {
                    let p = start + max(0, scale * (Double(o) + 0.5) - 0.5)
                    let i0 = max(first, min(Int(p.rounded(.down)), last))
                    let l = min(max(p - Double(i0), 0), 1)
                    k.index += [i0, i0 < last ? i0 + 1 : i0]; k.weight += [Float(1 - l), Float(l)]
                }
            }
            return k
        }
        let filterScale = max(scale, 1)
        let support = (interpolation == .bicubic ? 2.0 : 1.0) * filterScale
        let taps = Int(support.rounded(.up)) * 2 + 1
        var k = Kernel(taps: taps, index: [Int](repeating: 0, count: size * taps), weight: [Float](repeating: 0, count: size * taps))
        for o in 0..<size {
            let center = start + (Double(o) + 0.5) * scale
            let lo = max(Int((center - support + 0.5).rounded(.down)), 0)
            let hi = min(Int((center + support + 0.5).rounded(.down)), length)
            var ws = [Double](), total = 0.0
            for i in lo..<max(hi, lo + 1) {
                let x = (Double(i) - center + 0.5) / filterScale
                let w = interpolation == .bicubic ? cubic(x, a: -0.5) : max(0, 1 - abs(x))
                ws.append(w); total += w
            }
            for j in 0..<taps {   // unused taps point at a pixel in range with weight 0
                let w = j < ws.count ? ws[j] : 0
                k.index[o * taps + j] = min(lo + min(j, ws.count - 1), length - 1)
                k.weight[o * taps + j] = Float(total != 0 ? w / total : (j == 0 ? 1 : 0))
            }
        }
        return k
    }

    /// Resamples `box` of src [channels, height, width] to out [channels, outHeight, outWidth] as floats on
    /// the 0…255 scale (bicubic may overshoot; callers clamp), mirrored left–right when `flip`.
    static func resample(_ src: UnsafePointer<UInt8>, channels: Int, height: Int, width: Int, box: CropBox,
                         outHeight: Int, outWidth: Int, interpolation: Interpolation, antialias: Bool, flip: Bool,
                         into out: UnsafeMutablePointer<Float>) {
        var kx = kernel(start: box.x, extent: box.width, length: width, size: outWidth, interpolation: interpolation, antialias: antialias)
        let ky = kernel(start: box.y, extent: box.height, length: height, size: outHeight, interpolation: interpolation, antialias: antialias)
        if flip {   // mirror: output column o takes the taps of column outWidth−1−o
            var f = kx
            for o in 0..<outWidth {
                let s = (outWidth - 1 - o) * kx.taps
                for t in 0..<kx.taps { f.index[o * kx.taps + t] = kx.index[s + t]; f.weight[o * kx.taps + t] = kx.weight[s + t] }
            }
            kx = f
        }
        // Horizontal pass over the source rows the vertical taps touch, then the vertical pass.
        let rowLo = ky.index.min()!, rowHi = ky.index.max()!
        let rows = rowHi - rowLo + 1
        var tmp = [Float](repeating: 0, count: rows * outWidth)
        kx.index.withUnsafeBufferPointer { xi in kx.weight.withUnsafeBufferPointer { xw in
            ky.index.withUnsafeBufferPointer { yi in ky.weight.withUnsafeBufferPointer { yw in
                tmp.withUnsafeMutableBufferPointer { t in
                    for c in 0..<channels {
                        let plane = src + c * height * width
                        for r in 0..<rows {
                            let row = plane + (rowLo + r) * width
                            let dst = t.baseAddress! + r * outWidth
                            for o in 0..<outWidth {
                                var acc: Float = 0
                                for j in 0..<kx.taps { acc += xw[o * kx.taps + j] * Float(row[xi[o * kx.taps + j]]) }
                                dst[o] = acc
                            }
                        }
                        let plane2 = out + c * outHeight * outWidth
                        for o in 0..<outHeight {
                            let dst = plane2 + o * outWidth
                            for x in 0..<outWidth { dst[x] = 0 }
                            for j in 0..<ky.taps {
                                let w = yw[o * ky.taps + j]
                                if w == 0 { continue }
                                let srcRow = t.baseAddress! + (yi[o * ky.taps + j] - rowLo) * outWidth
                                for x in 0..<outWidth { dst[x] += w * srcRow[x] }
                            }
                        }
                    }
                }
            } }
        } }
    }

    /// The centred square of side min(height, width)·(1/cropFraction)… as a box: resizing the shorter
    /// side to `size / cropFraction` and cutting the centre `size`×`size` is the same as resampling this box.
    static func centerBox(height: Int, width: Int, cropFraction: Double) -> CropBox {
        let side = Double(min(height, width)) * cropFraction
        return CropBox(x: (Double(width) - side) / 2, y: (Double(height) - side) / 2, width: side, height: side)
    }

    /// Shorter side to `size`, centre crop `size`×`size`, antialiased bilinear (PIL-style): the stored form
    /// of folder images. The result is uint8 [channels, size, size].
    static func shorterSideCenterCrop(_ image: UInt8Image, size: Int) -> UInt8Image {
        if image.height == size && image.width == size { return image }
        let box = centerBox(height: image.height, width: image.width, cropFraction: 1)
        let f = image.pixels.withUnsafeBufferPointer { src in
            resampled(ImageView(pixels: src.baseAddress!, channels: image.channels, height: image.height, width: image.width),
                      box: box, size: size, interpolation: .bilinear, antialias: true, flip: false)
        }
        return UInt8Image(channels: image.channels, height: size, width: size, pixels: f.map(toByte))
    }

    /// `resample` of `v`'s crop `box` to size×size into a new array [channels, size, size] in `v`'s own
    /// channels, on the 0…255 pixel scale (not clamped: bicubic overshoots).
    static func resampled(_ v: ImageView, box: CropBox, size: Int, interpolation: Interpolation, antialias: Bool,
                          flip: Bool) -> [Float] {
        var f = [Float](repeating: 0, count: v.channels * size * size)
        f.withUnsafeMutableBufferPointer { o in
            resample(v.pixels, channels: v.channels, height: v.height, width: v.width, box: box, outHeight: size,
                     outWidth: size, interpolation: interpolation, antialias: antialias, flip: flip, into: o.baseAddress!)
        }
        return f
    }

    @inline(__always) static func toByte(_ v: Float) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }
}
