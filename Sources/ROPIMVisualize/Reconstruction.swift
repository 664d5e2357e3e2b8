// Reconstruction pictures: run a pre-training model on a few images and show, per image, the
// original, the corruption seen in pixel space, the decoder output, the output with the kept part
// pasted back, and the error where the loss looks. All in pixel space after un-normalizing.

import Foundation
import ROPIMCore
import ROPIMData
import ROPIMKernels
import ROPIMNN

/// The five pictures per image, in pixel values (un-normalized, not yet clamped), [N, C, H, W] each,
/// plus the error map [N, H, W] in normalized units (mean over channels of |Op(Y − Ŷ)|).
public struct ReconstructionPanels {
    public let count: Int, channels: Int, size: Int
    public var original: [Float]
    public var corrupted: [Float]
    public var reconstruction: [Float]
    public var pasted: [Float]
    public var error: [Float]
    /// Column titles, in drawing order (ASCII: the 5×7 font has no good Π⊥; "Pi" = Π, "y^" = ŷ).
    public let columnTitles: [String]
    /// Mean |Op(Y − Ŷ)| over the region the loss looks at, per image (normalized units).
    public var meanError: [Double]
}

public enum Reconstructions {
    /// Grey shown in place of masked patches (pixel value).
    public static let maskGray: Float = 0.5

    /// Maps normalized [N, C, H, W] values to pixel values in place: v·std[c] + mean[c].
    public static func unnormalize(_ v: inout [Float], channels c: Int, height h: Int, width w: Int, normalization n: Normalization) {
        precondition(n.fits(channels: c), "normalization has \(n.mean.count) channels, images have \(c)")
        let hw = h * w
        precondition(v.count % (c * hw) == 0, "\(v.count) values are not whole \(c)×\(h)×\(w) images")
        for i in 0..<(v.count / hw) {
            let ch = i % c, s = n.std(ch), m = n.mean(ch)
            for j in (i * hw)..<((i + 1) * hw) { v[j] = v[j] * s + m }
        }
    }

    /// Runs `model` on normalized `images` [N, C, H, W] (eval mode: no drop path) with the corruption drawn
    /// from `rng`, and assembles the pictures.
    public static func compute(model: any PretrainingObjective, images: Tensor, normalization: Normalization, rng: inout RNG,
                               compute: ComputeContext) -> ReconstructionPanels {
        let v = model.vit
        let n = images.shape[0], c = v.inChans, s = v.imgSize, k = v.numPatches, pd = v.patchDim, p = v.patchSize
        precondition(images.shape == [n, c, s, s], "images must be [N, \(c), \(s), \(s)], got \(images.shape)")
        _ = model.forward(images: images, batch: n, training: false, rng: &rng, compute: compute)
        let y = model.encoder.patches.array           // [N·K, pd] normalized target patches
        let yHat = model.picturePrediction            // [N·K, pd], normalized-pixel units (MAE norm_pix: un-normalized per patch)
        var corrupted = [Float](), pasted = [Float](), errorPatches = [Float]()
        var meanError = [Double]()
        // Masked patches are shown grey: the normalized value that un-normalizes to `maskGray`.
        let grayRow = (0..<pd).map { normalization.normalize(maskGray, channel: $0 / (p * p)) }
        for b in 0..<n {
            let yb = Array(y[(b * k * pd)..<((b + 1) * k * pd)]), hb = Array(yHat[(b * k * pd)..<((b + 1) * k * pd)])
            let views = model.views(image: b)
            var input = views.kept.apply(yb, cols: pd)
            // The kept part from the image, the rest from the prediction (Π·Y + Π⊥·Ŷ for ROPIM).
            let paste = zip(input, views.fill.apply(hb, cols: pd)).map { $0 + $1 }
            if let hidden = views.hidden {   // tokens replaced by a learned token: shown grey
                for t in 0..<k where hidden[t] { for j in 0..<pd { input[t * pd + j] = grayRow[j] } }
            }
            let diff = zip(yb, hb).map { $0 - $1 }
            let e = views.loss.apply(diff, cols: pd).map { abs($0) }
            let region = (views.loss.lossRowCount ?? k) * pd
            meanError.append(region > 0 ? e.reduce(0.0) { $0 + Double($1) } / Double(region) : 0)
            corrupted += input; pasted += paste; errorPatches += e
        }
        func image(_ rows: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: n * c * s * s)
            rows.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    Patches.unpatchify(src.baseAddress!, batch: n, channels: c, height: s, width: s, patch: p, into: dst.baseAddress!)
                }
            }
            return out
        }
        func pixels(_ rows: [Float]) -> [Float] {
            var v = image(rows)
            unnormalize(&v, channels: c, height: s, width: s, normalization: normalization)
            return v
        }
        let original = pixels(y), corr = pixels(corrupted), recon = pixels(yHat), paste = pixels(pasted)
        let errImages = image(errorPatches)
        var err = [Float](repeating: 0, count: n * s * s)
        for b in 0..<n { for ch in 0..<c { for j in 0..<(s * s) { err[b * s * s + j] += errImages[(b * c + ch) * s * s + j] / Float(c) } } }
        return ReconstructionPanels(count: n, channels: c, size: s, original: original, corrupted: corr, reconstruction: recon,
                                    pasted: paste, error: err, columnTitles: model.pictureTitles, meanError: meanError)
    }

    /// A grid: one row per image, five columns (see `columnTitles`), titles on top, `scale`× nearest upscaling,
    /// `gap`-pixel separators. The error map is scaled to [0, `errorMax`] (default: the largest error shown).
    public static func grid(_ r: ReconstructionPanels, scale: Int, gap: Int = 2, errorMax: Float? = nil,
                            title: String? = nil) -> Canvas {
        let cell = r.size * scale
        let titleH = title == nil ? 0 : 12
        let header = titleH + 14
        let cols = 5
        let labelW = 0
        // The error-scale caption sits left of the colour bar under the last column; widen if it does not fit.
        let width = labelW + cols * cell + (cols + 1) * gap
        let height = header + r.count * cell + (r.count + 1) * gap + 12
        var canvas = Canvas(width: width, height: height, background: RGB(200, 200, 200))
        canvas.fillRect(x: 0, y: 0, width: width, height: header, color: .white)
        if let title { canvas.text(title, x: 4, y: 2, color: .black) }
        let emax = errorMax ?? Swift.max(r.error.max() ?? 1, 1e-6)
        for (i, t) in r.columnTitles.enumerated() {
            canvas.text(t, x: labelW + gap + i * (cell + gap) + cell / 2, y: titleH + 3, color: .black, anchor: .middle)
        }
        let plane = r.channels * r.size * r.size, mapSize = r.size * r.size
        let drawC = r.channels == 3 ? 3 : 1
        for b in 0..<r.count {
            let y = header + gap + b * (cell + gap)
            for (col, source) in [r.original, r.corrupted, r.reconstruction, r.pasted].enumerated() {
                let x = labelW + gap + col * (cell + gap)
                source.withUnsafeBufferPointer { buf in
                    let start = b * plane
                    let slice = UnsafeBufferPointer(rebasing: buf[start..<(start + drawC * mapSize)])
                    canvas.drawImage(slice, channels: drawC, height: r.size, width: r.size, x: x, y: y, scale: scale)
                }
            }
            let normalized = r.error[(b * mapSize)..<((b + 1) * mapSize)].map { $0 / emax }
            normalized.withUnsafeBufferPointer { buf in
                canvas.drawMap(buf, height: r.size, width: r.size, x: labelW + gap + 4 * (cell + gap), y: y, scale: scale)
            }
        }
        // Colour bar legend for the error map, under the last column.
        let barY = header + gap + r.count * (cell + gap)
        let barX = labelW + gap + 4 * (cell + gap)
        for i in 0..<cell { canvas.fillRect(x: barX + i, y: barY + 2, width: 1, height: 4, color: RGB.heat(Float(i) / Float(Swift.max(cell - 1, 1)))) }
        canvas.text(String(format: "error scale 0 to %.2f (normalized units)", emax), x: barX - 4, y: barY + 1, color: .black, anchor: .end)
        return canvas
    }
}
