// Small vector helpers shared by layers and the optimizer.

public enum Vec {
    /// y += x
    @inline(__always) public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] += x[i] }
    }

    /// y += a·x
    @inline(__always) public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { y[i] = y[i].addingProduct(a, x[i]) }
    }

    /// Σ x² in Double.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count n: Int) -> Double {
        var s = 0.0
        for i in 0..<n { s += Double(x[i]) * Double(x[i]) }
        return s
    }

    /// out[j] += Σ_r x[r, j]   (x is rows×cols): bias gradients.
    public static func addColumnSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * cols
            for j in 0..<cols { out[j] += row[j] }
        }
    }

    /// x[r, j] += b[j] for each row: bias add.
    public static func addRowVector(_ b: UnsafePointer<Float>, to x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let row = x + r * cols
            for j in 0..<cols { row[j] += b[j] }
        }
    }
}
