// Image → network input: torchvision-style RandomResizedCrop + horizontal flip, bilinear resampling
// (align_corners=false, no antialias, as torch's `interpolate`), gray → RGB replication and per-channel
// normalization, assembled into [B, C, S, S] batches. Random draws happen sequentially in index order,
// so a batch depends only on the generator state, never on the thread count.

import Foundation
import ROPIMKernels

/// Per-channel mean and standard deviation of pixel values in [0, 1]; input = (v − mean[c]) / std[c].
/// One entry broadcasts to every channel (gray data replicated to RGB keeps one statistic).
public struct Normalization: Codable, Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        precondition(!mean.isEmpty && mean.count == std.count, "normalization needs one std per mean")
        precondition(std.allSatisfy { $0 > 0 }, "normalization std must be positive, got \(std)")
        self.mean = mean
        self.std = std
    }

    /// ImageNet statistics (torchvision's usual constants).
    public static let imagenet = Normalization(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// Fashion-MNIST train set, measured over all 60000×28×28 pixels (population std):
    /// mean 0.28604, std 0.35302 (DataTests recomputes both from the installed files).
    public static let fashionMNIST = Normalization(mean: [0.2860], std: [0.3530])

    /// Whether this normalization fits inputs with `channels` channels (one entry, or one per channel).
    public func fits(channels: Int) -> Bool { mean.count == 1 || mean.count == channels }

    @inline(__always) public func mean(_ c: Int) -> Float { mean.count == 1 ? mean[0] : mean[c] }
    @inline(__always) public func std(_ c: Int) -> Float { std.count == 1 ? std[0] : std[c] }

    public func normalize(_ v: Float, channel c: Int) -> Float { (v - mean(c)) / std(c) }
    public func denormalize(_ v: Float, channel c: Int) -> Float { v * std(c) + mean(c) }

    /// Maps a normalized [B, C, H, W] tensor back to pixel values in [0, 1] (for viewing reconstructions).
    public func denormalize(_ t: Tensor) {
        precondition(t.shape.count == 4 && fits(channels: t.shape[1]), "denormalize wants [B, C, H, W], got \(t.shape)")
        let (b, c, hw) = (t.shape[0], t.shape[1], t.shape[2] * t.shape[3])
        for i in 0..<b { for ch in 0..<c {
            let p = t.data + (i * c + ch) * hw
            let (s, m) = (std(ch), mean(ch))
            for j in 0..<hw { p[j] = p[j] * s + m }
        } }
    }
}

/// A crop rectangle in pixels of the source image: columns x..<x+width, rows y..<y+height.
public struct CropBox: Equatable, Sendable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    /// The whole image.
    public static func full(height: Int, width: Int) -> CropBox {
        CropBox(x: 0, y: 0, width: Double(width), height: Double(height))
    }
}

/// Training-time augmentation. Missing keys in a config file take these defaults.
public struct AugmentConfig: Codable, Equatable, Sendable {
    /// Random crop of a random area and aspect ratio, resized to the input size (else the whole image).
    public var randomResizedCrop: Bool = true
    /// Crop area as a fraction of the image, [lo, hi] with 0 < lo ≤ hi ≤ 1 (SimMIM uses 0.67…1).
    public var scale: [Double] = [0.67, 1.0]
    /// Crop aspect ratio width/height, [lo, hi], drawn log-uniformly (torchvision's 3/4…4/3).
    public var ratio: [Double] = [0.75, 1.3333333333333333]
    /// Mirror left–right with probability 1/2.
    public var horizontalFlip: Bool = true
    /// Resampling of the crop: bilinear (torch, no antialias) or bicubic (torch, A = −0.75).
    public var interpolation: Interpolation = .bilinear
    /// ColorJitter strengths: [] off, [v] for brightness = contrast = saturation, [b, c, s] or [b, c, s, hue].
    /// Ignored when rand_augment is set (as timm does).
    public var colorJitter: [Double] = []
    /// timm RandAugment spec, e.g. "rand-m9-mstd0.5-inc1"; "" off.
    public var randAugment: String = ""
    /// Random erasing probability (timm `reprob`, pixel mode, one box of 2–33 % of the area); 0 off.
    public var reprob: Double = 0

    public init(randomResizedCrop: Bool = true, scale: [Double] = [0.67, 1.0],
                ratio: [Double] = [0.75, 1.3333333333333333], horizontalFlip: Bool = true,
                interpolation: Interpolation = .bilinear, colorJitter: [Double] = [], randAugment: String = "",
                reprob: Double = 0) {
        self.randomResizedCrop = randomResizedCrop
        self.scale = scale
        self.ratio = ratio
        self.horizontalFlip = horizontalFlip
        self.interpolation = interpolation
        self.colorJitter = colorJitter
        self.randAugment = randAugment
        self.reprob = reprob
    }

    enum CodingKeys: String, CodingKey {
        case randomResizedCrop, scale, ratio, horizontalFlip, interpolation, colorJitter, randAugment, reprob
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AugmentConfig()
        randomResizedCrop = try c.decodeIfPresent(Bool.self, forKey: .randomResizedCrop) ?? d.randomResizedCrop
        scale = try c.decodeIfPresent([Double].self, forKey: .scale) ?? d.scale
        ratio = try c.decodeIfPresent([Double].self, forKey: .ratio) ?? d.ratio
        horizontalFlip = try c.decodeIfPresent(Bool.self, forKey: .horizontalFlip) ?? d.horizontalFlip
        interpolation = try c.decodeIfPresent(Interpolation.self, forKey: .interpolation) ?? d.interpolation
        colorJitter = try c.decodeIfPresent([Double].self, forKey: .colorJitter) ?? d.colorJitter
        randAugment = try c.decodeIfPresent(String.self, forKey: .randAugment) ?? d.randAugment
        reprob = try c.decodeIfPresent(Double.self, forKey: .reprob) ?? d.reprob
    }

    /// Throws a DataError naming the bad field and the accepted values.
    public func validate() throws {
        guard scale.count == 2, scale[0] > 0, scale[0] <= scale[1], scale[1] <= 1 else {
            throw DataError("augment.scale \(scale): give two numbers lo, hi with 0 < lo ≤ hi ≤ 1, e.g. [0.67, 1.0]")
        }
        guard ratio.count == 2, ratio[0] > 0, ratio[0] <= ratio[1], ratio[1].isFinite else {
            throw DataError("augment.ratio \(ratio): give two numbers lo, hi with 0 < lo ≤ hi, e.g. [0.75, 1.3333]")
        }
        if !colorJitter.isEmpty { _ = try ColorJitter(colorJitter) }
        if !randAugment.isEmpty { _ = try RandAugment(spec: randAugment) }
        guard (0...1).contains(reprob) else {
            throw DataError("augment.reprob \(reprob): a probability in [0, 1], e.g. 0.25")
        }
    }

    public var scaleRange: ClosedRange<Double> { scale[0]...scale[1] }
    public var ratioRange: ClosedRange<Double> { ratio[0]...ratio[1] }
}

public enum Transforms {
    /// torchvision `RandomResizedCrop.get_params`: up to 10 tries of area ∈ scale·H·W and a log-uniform
    /// aspect ratio, rounded half-to-even to whole pixels, kept when it fits, at a uniform position;
    /// otherwise the centred crop of the whole image clamped to the ratio range. Boxes are whole pixels.
    public static func randomResizedCropBox(height: Int, width: Int, scale: ClosedRange<Double>,
                                            ratio: ClosedRange<Double>, rng: inout RNG) -> CropBox {
        let area = Double(height * width)
        let logLo = Foundation.log(ratio.lowerBound), logHi = Foundation.log(ratio.upperBound)
        for _ in 0..<10 {
            let target = area * rng.uniform(scale.lowerBound, scale.upperBound)
            let aspect = Foundation.exp(rng.uniform(logLo, logHi))
            let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if w > 0 && w <= width && h > 0 && h <= height {
                let i = rng.int(below: height - h + 1)
                let j = rng.int(below: width - w + 1)
                return CropBox(x: Double(j), y: Double(i), width: Double(w), height: Double(h))
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < ratio.lowerBound {
            h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
        } else if inRatio > ratio.upperBound {
            w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
        }
        return CropBox(x: Double((width - w) / 2), y: Double((height - h) / 2), width: Double(w), height: Double(h))
    }

    /// Source taps of one output axis: out[o] = (1 − λ)·src[i0] + λ·src[i1].
    struct Tap { var i0: Int; var i1: Int; var lambda: Float }

    /// torch bilinear (align_corners=false) source positions for `size` outputs over [start, start+extent)
    /// of an axis of length `length`: p = (o + ½)·extent/size − ½, clamped below at 0 and above at the
    /// crop's last pixel. For whole-pixel boxes this is exactly crop-then-resize.
    static func taps(start: Double, extent: Double, length: Int, size: Int) -> [Tap] {
        let scale = extent / Double(size)
        let first = Int(start.rounded(.down))
        let last = min(length - 1, Int((start + extent).rounded(.up)) - 1)
        return (0..<size).map { o in
            let p = start + max(0, scale * (Double(o) + 0.5) - 0.5)
            let i0 = max(first, min(Int(p.rounded(.down)), last))
            let lambda = Float(min(max(p - Double(i0), 0), 1))
            return Tap(i0: i0, i1: i0 < last ? i0 + 1 : i0, lambda: lambda)
        }
    }

    /// Resamples `box` of the uint8 image src [channels, height, width] to out [outChannels, size, size]
    /// (values/255, bilinear as torch with align_corners=false and no antialias), mirrors left–right when
    /// `flip`, then normalizes (v − mean[c]) / std[c]. Gray input (channels 1) is replicated to every
    /// output channel; otherwise outChannels must equal channels.
    public static func resizedCrop(_ src: UnsafePointer<UInt8>, channels: Int, height: Int, width: Int,
                                   box: CropBox, size: Int, flip: Bool, outChannels: Int,
                                   normalization: Normalization, into out: UnsafeMutablePointer<Float>) {
        precondition(channels == outChannels || channels == 1,
                     "cannot make \(outChannels)-channel input from \(channels)-channel images")
        precondition(normalization.fits(channels: outChannels),
                     "normalization has \(normalization.mean.count) channels, input has \(outChannels)")
        precondition(box.x >= 0 && box.y >= 0 && box.width > 0 && box.height > 0
                     && box.x + box.width <= Double(width) + 1e-9 && box.y + box.height <= Double(height) + 1e-9,
                     "crop box \(box) outside the \(width)×\(height) image")
        var xs = taps(start: box.x, extent: box.width, length: width, size: size)
        if flip { xs.reverse() }
        let ys = taps(start: box.y, extent: box.height, length: height, size: size)
        xs.withUnsafeBufferPointer { xs in
            for c in 0..<outChannels {
                let plane = src + (channels == 1 ? 0 : c) * height * width
                let dst = out + c * size * size
                let s = normalization.std(c), m = normalization.mean(c)
                for (oy, ty) in ys.enumerated() {
                    let r0 = plane + ty.i0 * width, r1 = plane + ty.i1 * width
                    let wy = ty.lambda
                    let row = dst + oy * size
                    for ox in 0..<size {
                        let t = xs[ox]
                        let top = (1 - t.lambda) * Float(r0[t.i0]) + t.lambda * Float(r0[t.i1])
                        let bottom = (1 - t.lambda) * Float(r1[t.i0]) + t.lambda * Float(r1[t.i1])
                        let v = ((1 - wy) * top + wy * bottom) / 255
                        row[ox] = (v - m) / s
                    }
                }
            }
        }
    }

    /// `resizedCrop` of image `index` of a dataset, returned as an array [outChannels, size, size].
    public static func resizedCrop(_ data: ImageDataset, index: Int, box: CropBox, size: Int, flip: Bool,
                                   outChannels: Int, normalization: Normalization) -> [Float] {
        precondition(index >= 0 && index < data.count, "image \(index) outside 0..<\(data.count)")
        var out = [Float](repeating: 0, count: outChannels * size * size)
        data.pixels.withUnsafeBufferPointer { px in
            out.withUnsafeMutableBufferPointer { o in
                resizedCrop(px.baseAddress! + index * data.imageSize, channels: data.channels, height: data.height,
                            width: data.width, box: box, size: size, flip: flip, outChannels: outChannels,
                            normalization: normalization, into: o.baseAddress!)
            }
        }
        return out
    }
}

/// Fills `out` (resized to [B, C, S, S], C = outChannels: gray replicates to every channel, otherwise C
/// must equal the dataset's channels) with the images `indices`, each augmented with draws from `rng` in
/// index order (crop box, then flip), and normalized. With `augment` nil: the whole image resized to S
/// (identity when sizes match), no flip, no draws. `compute` spreads the images over its threads.
/// Evaluation (`augment` nil) has a form without `rng`.
public func makeBatch(_ data: ImageDataset, indices: [Int], size: Int, outChannels: Int, augment: AugmentConfig?,
                      normalization: Normalization, rng: inout RNG, into out: Tensor, compute: ComputeContext) {
    precondition(data.channels == outChannels || data.channels == 1,
                 "\(data.source): cannot make \(outChannels)-channel input from \(data.channels)-channel images")
    precondition(normalization.fits(channels: outChannels),
                 "normalization has \(normalization.mean.count) channels, input has \(outChannels)")
    precondition(indices.allSatisfy { $0 >= 0 && $0 < data.count }, "batch index outside 0..<\(data.count)")
    var boxes = [CropBox](), flips = [Bool]()
    boxes.reserveCapacity(indices.count)
    flips.reserveCapacity(indices.count)
    for _ in indices {
        if let a = augment, a.randomResizedCrop {
            boxes.append(Transforms.randomResizedCropBox(height: data.height, width: data.width,
                                                         scale: a.scaleRange, ratio: a.ratioRange, rng: &rng))
        } else {
            boxes.append(.full(height: data.height, width: data.width))
        }
        flips.append(augment?.horizontalFlip == true ? rng.bernoulli(0.5) : false)
    }
    out.resize([indices.count, outChannels, size, size])
    let perImage = outChannels * size * size, imageSize = data.imageSize
    let dst = out.data
    data.pixels.withUnsafeBufferPointer { px in
        let src = px.baseAddress!
        compute.forEach(indices.count) { b in
            Transforms.resizedCrop(src + indices[b] * imageSize, channels: data.channels, height: data.height,
                                   width: data.width, box: boxes[b], size: size, flip: flips[b],
                                   outChannels: outChannels, normalization: normalization, into: dst + b * perImage)
        }
    }
}

/// `makeBatch` for evaluation: every image whole, resized to S, normalized; nothing is drawn.
public func makeBatch(_ data: ImageDataset, indices: [Int], size: Int, outChannels: Int, normalization: Normalization,
                      into out: Tensor, compute: ComputeContext) {
    RNG.withoutDraws {
        makeBatch(data, indices: indices, size: size, outChannels: outChannels, augment: nil, normalization: normalization,
                  rng: &$0, into: out, compute: compute)
    }
}
