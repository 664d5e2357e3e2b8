// Vector helpers shared by layers and the optimizer: SIMD16 bodies with scalar tails, parallel over
// rows where the work is large. Accumulations keep a fixed order for a given thread count.

@inline(__always) func load16(_ p: UnsafePointer<Float>) -> Float16x { UnsafeRawPointer(p).loadUnaligned(as: Float16x.self) }
@inline(__always) func store16(_ v: Float16x, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float16x.self) }

public enum Vec {
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> Float16x { UnsafeRawPointer(p).loadUnaligned(as: Float16x.self) }
    @inlinable @inline(__always)
    public static func store(_ v: Float16x, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Float16x.self) }
    /// The first n (< 16) floats at p, zeros after: row tails.
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>, count n: Int) -> Float16x {
        var v = Float16x(repeating: 0)
        for j in 0..<n { v[j] = p[j] }
        return v
    }
    @inlinable @inline(__always)
    public static func store(_ v: Float16x, _ p: UnsafeMutablePointer<Float>, count n: Int) {
        for j in 0..<n { p[j] = v[j] }
    }
    /// Horizontal sum by halving (SIMD.sum() is slow).
    @inlinable @inline(__always)
    public static func hsum(_ v: Float16x) -> Float {
        let a = v.lowHalf + v.highHalf, b = a.lowHalf + a.highHalf, c = b.lowHalf + b.highHalf
        return c[0] + c[1]
    }

    /// y += x
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + 16 <= n { store16(load16(y + i) + load16(x + i), y + i); i += 16 }
        while i < n { y[i] += x[i]; i += 1 }
    }

    /// y += a·x
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        let av = Float16x(repeating: a)
        var i = 0
        while i + 16 <= n { store16(load16(y + i).addingProduct(av, load16(x + i)), y + i); i += 16 }
        while i < n { y[i] = y[i].addingProduct(a, x[i]); i += 1 }
    }

    /// Σ x² in Double (per-block Float partials).
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count n: Int) -> Double {
        var total = 0.0
        var i = 0
        while i < n {
            let end = Swift.min(n, i + 4096)
            var acc = Float16x(repeating: 0)
            while i + 16 <= end { let v = load16(x + i); acc = acc.addingProduct(v, v); i += 16 }
            var s = Double(hsum(acc))
            while i < end { s += Double(x[i]) * Double(x[i]); i += 1 }
            total += s
        }
        return total
    }

    /// out[j] += Σ_r x[r, j]   (x is rows×cols): bias gradients. Rows split over the threads
    /// (`ComputeContext.reduce`: per-chunk partial vectors added in chunk order).
    public static func addColumnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>,
                                     compute: ComputeContext) {
        compute.reduce(Float.self, rows: rows, cols: cols, width: cols) { range, acc in
            for r in range { add(x + r * cols, into: acc, count: cols) }
        } combine: { add($0, into: out, count: cols) }
    }
}
