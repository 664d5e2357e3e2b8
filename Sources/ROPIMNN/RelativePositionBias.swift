// BEiT relative position bias: a table [(2Wh−1)(2Ww−1)+3, heads] indexed by the relative offset of
// two tokens; the last three rows are cls→token, token→cls and cls→cls. Shared by all blocks
// (`rel_pos_bias.relative_position_bias_table`) or one per block
// (`blocks.i.attn.relative_position_bias_table`).

import ROPIMKernels

public struct RelativePositionBias {
    public let gridHeight: Int
    public let gridWidth: Int
    public let heads: Int
    public let table: ParamRef
    /// index[i·N + j] = table row of (query i, key j), N = gridHeight·gridWidth + 1 (cls first).
    public let index: [Int32]

    public static func tableRows(gridHeight: Int, gridWidth: Int) -> Int { (2 * gridHeight - 1) * (2 * gridWidth - 1) + 3 }

    public init(_ params: ParameterStore, _ name: String, gridHeight: Int, gridWidth: Int, heads: Int) {
        self.gridHeight = gridHeight
        self.gridWidth = gridWidth
        self.heads = heads
        let rows = RelativePositionBias.tableRows(gridHeight: gridHeight, gridWidth: gridWidth)
        table = params.add(name, shape: [rows, heads])
        index = RelativePositionBias.makeIndex(gridHeight: gridHeight, gridWidth: gridWidth)
    }

    public static func makeIndex(gridHeight wh: Int, gridWidth ww: Int) -> [Int32] {
        let k = wh * ww, n = k + 1
        let rows = tableRows(gridHeight: wh, gridWidth: ww)
        var idx = [Int32](repeating: 0, count: n * n)
        for i in 0..<k {
            for j in 0..<k {
                let dy = i / ww - j / ww + wh - 1, dx = i % ww - j % ww + ww - 1
                idx[(i + 1) * n + (j + 1)] = Int32(dy * (2 * ww - 1) + dx)
            }
        }
        for j in 1..<n { idx[j] = Int32(rows - 3) }          // cls → token
        for i in 1..<n { idx[i * n] = Int32(rows - 2) }      // token → cls
        idx[0] = Int32(rows - 1)                             // cls → cls
        return idx
    }

    public var tokens: Int { gridHeight * gridWidth + 1 }

    /// Carries a table learned on a Wh×Ww grid to a Wh'×Ww' grid (fine-tuning at another image size).
    ///   table [(2Wh−1)(2Ww−1) + 3, heads] (row-major) → [(2Wh'−1)(2Ww'−1) + 3, heads]
    /// Row dy·(2Ww−1) + dx of the offset part is pixel (dy, dx) of an image [2Wh−1, 2Ww−1, heads]
    /// (channels last); that image is resized bicubically to [2Wh'−1, 2Ww'−1, heads]. The last three rows
    /// (cls→token, token→cls, cls→cls) do not depend on the grid and are copied unchanged.
    ///
    /// Scheme: torch's `interpolate(mode="bicubic", align_corners=False)`, the one timm's
    /// `resize_rel_pos_bias_table` applies when it loads a BEiT checkpoint at another size, so a table
    /// resized here matches what timm would make of the same checkpoint, and the same kernel resamples a
    /// learned `pos_embed` (as MAE/DeiT do). BEiT's original geometric-progression scheme keeps the
    /// smallest offsets at their learned spacing, but it needs a 2-D cubic spline through non-uniformly
    /// spaced samples (scipy's interp2d) — much more code for a gain nobody has measured at these sizes.
    /// With align_corners=False the zero offset stays at the zero offset and the whole offset range is
    /// stretched onto the new one: a bias f(dy, dx) becomes ≈ f(dy·sᵧ, dx·sₓ), sᵧ = (2Wh−1)/(2Wh'−1).
    public static func resizeTable(_ table: [Float], heads: Int, from: (Int, Int), to: (Int, Int)) -> [Float] {
        let (h, w) = (2 * from.0 - 1, 2 * from.1 - 1), (h2, w2) = (2 * to.0 - 1, 2 * to.1 - 1)
        precondition(table.count == tableRows(gridHeight: from.0, gridWidth: from.1) * heads,
                     "relative position table has \(table.count) values, not [\(h * w + 3), \(heads)] for grid \(from.0)×\(from.1)")
        let offsets = Bicubic.resize(Array(table[0..<(h * w * heads)]), channels: heads, from: (h, w), to: (h2, w2))
        return offsets + table[(h * w * heads)...]
    }

    /// bias [heads, N, N] from the table.
    public func forward(_ p: ParameterStore, bias: UnsafeMutablePointer<Float>) {
        let t = p.value(table), n = tokens, h = heads
        for head in 0..<h {
            for e in 0..<(n * n) { bias[head * n * n + e] = t[Int(index[e]) * h + head] }
        }
    }

    /// table grad += scatter of dbias [heads, N, N].
    public func backward(_ p: ParameterStore, dbias: UnsafePointer<Float>) {
        let g = p.grad(table), n = tokens, h = heads
        for head in 0..<h {
            for e in 0..<(n * n) { g[Int(index[e]) * h + head] += dbias[head * n * n + e] }
        }
    }
}
