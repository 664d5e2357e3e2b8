// Attention maps of an encoder on a few images: the last block's attention from the class token to every patch,
// per head and averaged over heads, and attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in
// Transformers", 2020): per block the head-averaged attention A plus the identity for the residual path, rows
// renormalized, Â = (A + I) / rowsum, multiplied through the blocks, R = Â_L ⋯ Â_1; the class token's row of R
// over the patches is the map. Probabilities include the relative position bias as the forward adds it.

import Foundation
import ROPIMData
import ROPIMKernels
import ROPIMNN

public struct AttentionMaps {
    public let count: Int, heads: Int, grid: Int
    /// [count, heads, K]: the last block's attention from the class token (query 0) to patch j (key 1 + j).
    public var lastBlock: [Float]
    /// [count, K]: `lastBlock` averaged over heads.
    public var mean: [Float]
    /// [count, K]: the class token's row of the rollout, over the patches.
    public var rollout: [Float]

    /// Runs `encoder` (no drop path) on normalized `images` [count, C, S, S] and reads its attention.
    public static func compute(encoder: VisionTransformer, images: Tensor, compute: ComputeContext) -> AttentionMaps {
        let v = encoder.config, b = images.shape[0], h = v.numHeads, k = v.numPatches, n = v.numTokens
        let tok = encoder.embedPatches(images, batch: b, compute: compute)
        encoder.encode(tok.data, batch: b, compute: compute)
        let probs = encoder.lastAttentionProbabilities()
        let last = probs[probs.count - 1]
        var lastBlock = [Float](repeating: 0, count: b * h * k), mean = [Float](repeating: 0, count: b * k), rolled = [Float]()
        for i in 0..<b {
            for head in 0..<h {
                let row = (i * h + head) * n * n   // query 0 (the class token)
                for j in 0..<k {
                    lastBlock[(i * h + head) * k + j] = last[row + 1 + j]
                    mean[i * k + j] += last[row + 1 + j] / Float(h)
                }
            }
            rolled += rollout(probs, image: i, heads: h, tokens: n)[1..<n]
        }
        return AttentionMaps(count: b, heads: h, grid: v.gridSize, lastBlock: lastBlock, mean: mean, rollout: rolled)
    }

    /// The rollout R [N, N] of one image: `probs` holds every block's probabilities [B, H, N, N], first block first.
    public static func rollout(_ probs: [[Float]], image b: Int, heads h: Int, tokens n: Int) -> [Float] {
        var r = [Double](repeating: 0, count: n * n)
        for i in 0..<n { r[i * n + i] = 1 }
        for p in probs {
            // Â = (mean over heads + I), rows renormalized.
            var a = [Double](repeating: 0, count: n * n)
            for head in 0..<h {
                let base = (b * h + head) * n * n
                for e in 0..<(n * n) { a[e] += Double(p[base + e]) / Double(h) }
            }
            for i in 0..<n {
                a[i * n + i] += 1
                let sum = a[(i * n)..<((i + 1) * n)].reduce(0, +)
                for j in 0..<n { a[i * n + j] /= sum }
            }
            // R ← Â · R
            var next = [Double](repeating: 0, count: n * n)
            for i in 0..<n { for t in 0..<n where a[i * n + t] != 0 {
                let w = a[i * n + t]
                for j in 0..<n { next[i * n + j] += w * r[t * n + j] }
            } }
            r = next
        }
        return r.map(Float.init)
    }

    /// Column titles, in drawing order.
    public var columnTitles: [String] { ["image"] + (1...heads).map { "head \($0)" } + ["mean", "rollout"] }

    /// One row per image: the image, then each map over it (heat colours blended into the grey image), nearest
    /// upscaling so each patch is one block. Each map is scaled to its own maximum. `pixels` are the images
    /// [count, C, S, S] in pixel values (un-normalized); `scale` enlarges each pixel.
    public func picture(pixels: [Float], channels c: Int, size s: Int, scale: Int, title: String) -> Canvas {
        let cell = s * scale, gap = 2, cols = heads + 3, header = 28
        let notes = ["last block: class token -> patches; rollout: Abnar & Zuidema 2020, (A + I) renormalized, product over blocks",
                     "each map scaled to its own maximum"]
        let width = Swift.max(cols * (cell + gap) + gap, BitmapFont.width(of: notes[0]) + 8)
        let height = header + count * (cell + gap) + gap + 12 * notes.count + 4
        var canvas = Canvas(width: width, height: height, background: RGB(200, 200, 200))
        canvas.fillRect(x: 0, y: 0, width: width, height: header, color: .white)
        canvas.fillRect(x: 0, y: height - 12 * notes.count - 4, width: width, height: 12 * notes.count + 4, color: .white)
        canvas.text(title, x: 4, y: 2, color: .black)
        for (i, t) in columnTitles.enumerated() {
            canvas.text(t, x: gap + i * (cell + gap) + cell / 2, y: 16, color: .black, anchor: .middle)
        }
        for (i, note) in notes.enumerated() { canvas.text(note, x: 4, y: height - 12 * notes.count + 12 * i, color: .darkGray) }
        let plane = c * s * s, k = grid * grid, p = s / grid
        for b in 0..<count {
            let y = header + gap + b * (cell + gap)
            // The image in grey (mean over channels), clamped to [0, 1].
            var gray = [Float](repeating: 0, count: s * s)
            for ch in 0..<c { for j in 0..<(s * s) { gray[j] += pixels[b * plane + ch * s * s + j] / Float(c) } }
            gray = gray.map { Swift.min(Swift.max($0, 0), 1) }
            let shown = c == 3 ? Array(pixels[(b * plane)..<((b + 1) * plane)]) : gray
            shown.withUnsafeBufferPointer { canvas.drawImage($0, channels: c == 3 ? 3 : 1, height: s, width: s, x: gap, y: y, scale: scale) }
            let maps = (0..<heads).map { Array(lastBlock[((b * heads + $0) * k)..<((b * heads + $0 + 1) * k)]) }
                + [Array(mean[(b * k)..<((b + 1) * k)]), Array(rollout[(b * k)..<((b + 1) * k)])]
            for (m, map) in maps.enumerated() {
                let top = Swift.max(map.max() ?? 1, 1e-12), x0 = gap + (m + 1) * (cell + gap)
                for py in 0..<s { for px in 0..<s {
                    let heat = RGB.heat(map[(py / p) * grid + px / p] / top), g = gray[py * s + px]
                    let blend = { (h: UInt8) in RGB.byte(0.35 * g + 0.65 * Float(h) / 255) }
                    canvas.fillRect(x: x0 + px * scale, y: y + py * scale, width: scale, height: scale,
                                    color: RGB(blend(heat.r), blend(heat.g), blend(heat.b)))
                } }
            }
        }
        return canvas
    }
}
