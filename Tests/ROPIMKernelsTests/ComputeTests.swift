import XCTest
import Foundation
@testable import ROPIMKernels

final class ComputeContextTests: XCTestCase {
    /// 0 means every core; an explicit count is kept as given.
    func testResolveZeroIsAllCoresAndExplicitCountsAreKept() {
        XCTAssertEqual(ComputeContext.resolve(threads: 0).threads, ProcessInfo.processInfo.activeProcessorCount)
        for n in [1, 3, 16, ComputeContext.maxThreads] { XCTAssertEqual(ComputeContext.resolve(threads: n).threads, n) }
        XCTAssertEqual(ComputeContext.serial, ComputeContext(threads: 1))
    }

    /// The one range check of a thread setting: 0 … maxThreads pass; a negative or absurd count is a
    /// message naming the key, the range and the value (a negative count used to mean "all cores" silently).
    func testThreadSettingRangeNamesTheKey() {
        for ok in [0, 1, ComputeContext.maxThreads] { XCTAssertNil(ComputeContext.problem(threads: ok, key: "run.threads")) }
        for bad in [-3, -1, ComputeContext.maxThreads + 1, 20_000] {
            for key in ["run.threads", "--threads"] {
                XCTAssertEqual(ComputeContext.problem(threads: bad, key: key),
                               "\(key) must be in 0...\(ComputeContext.maxThreads) (0 = all cores), got \(bad)")
            }
        }
    }

    /// The reduction plan: column sums of [1000, 37] through `reduce` with 1, 2, 3 and 7 threads (small
    /// chunks, so every count splits). Repeated calls with the same thread count give the same bits, every
    /// count is within Float rounding of a plain Double sum, and `combine` sees the chunks in row order.
    func testReduceIsDeterministicPerThreadCountAndMatchesADoubleSum() {
        var rng = RNG(seed: 21)
        let rows = 1000, cols = 37
        let x = Tensor(shape: [rows, cols])
        for i in 0..<x.count { x[i] = Float(rng.normal()) }
        var exact = [Double](repeating: 0, count: cols)
        for r in 0..<rows { for j in 0..<cols { exact[j] += Double(x[r * cols + j]) } }
        func columnSums(_ compute: ComputeContext) -> (sums: [Float], firstRows: [Int]) {
            var out = [Float](repeating: 0, count: cols), firstRows: [Int] = []
            compute.reduce(Float.self, rows: rows, cols: cols, minChunk: 64 * cols, width: cols + 1) { range, acc in
                acc[cols] = Float(range.lowerBound)
                for r in range { for j in 0..<cols { acc[j] += x[r * cols + j] } }
            } combine: { partial in
                firstRows.append(Int(partial[cols]))
                for j in 0..<cols { out[j] += partial[j] }
            }
            return (out, firstRows)
        }
        for threads in [1, 2, 3, 7] {
            let compute = ComputeContext(threads: threads)
            let a = columnSums(compute), b = columnSums(compute)
            XCTAssertEqual(a.sums.map(\.bitPattern), b.sums.map(\.bitPattern), "\(threads) threads: same bits every call")
            XCTAssertEqual(a.firstRows, (0..<threads).map { rows * $0 / threads }, "\(threads) chunks, combined in row order")
            for j in 0..<cols { XCTAssertEqual(Double(a.sums[j]), exact[j], accuracy: 1e-4 * (1 + abs(exact[j])), "column \(j)") }
        }
        // Below the grain the work stays in one chunk; Double partials work the same way.
        var chunks = 0, total = 0.0
        ComputeContext(threads: 4).reduce(Double.self, rows: rows, cols: cols, width: 1) { range, s in
            for r in range { for j in 0..<cols { s.pointee += Double(x[r * cols + j]) } }
        } combine: { chunks += 1; total += $0.pointee }
        XCTAssertEqual(chunks, 1, "37 000 values are below the default grain of 65 536")
        XCTAssertEqual(total, exact.reduce(0, +), accuracy: 1e-9 * Double(x.count))
    }

    /// forChunks hands out every index exactly once, in contiguous chunks, whatever the thread count and grain.
    func testForChunksCoversEveryIndexOnce() {
        for threads in [1, 2, 3, 7] {
            let compute = ComputeContext(threads: threads)
            for (count, minChunk) in [(0, 1), (1, 1), (10, 1), (100, 7), (1000, 64), (5, 100)] {
                var hits = [Int](repeating: 0, count: count)
                hits.withUnsafeMutableBufferPointer { h in
                    let p = h.baseAddress
                    compute.forChunks(count, minChunk: minChunk) { r in for i in r { p![i] += 1 } }
                }
                XCTAssertEqual(hits, [Int](repeating: 1, count: count), "threads \(threads), count \(count), minChunk \(minChunk)")
            }
        }
    }
}
