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
