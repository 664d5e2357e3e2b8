import XCTest
import Foundation
@testable import ROPIMKernels

final class ComputeContextTests: XCTestCase {
    /// 0 means every core; an explicit count is kept as given.
    func testResolveZeroIsAllCoresAndExplicitCountsAreKept() throws {
        XCTAssertEqual(try ComputeContext.resolve(threads: 0).threads, ProcessInfo.processInfo.activeProcessorCount)
        for n in [1, 3, 16, ComputeContext.maxThreads] { XCTAssertEqual(try ComputeContext.resolve(threads: n).threads, n) }
        XCTAssertEqual(ComputeContext.serial, ComputeContext(threads: 1))
    }

    /// A negative or absurd count is an error naming the setting and the allowed range (it used to mean
    /// "all cores" silently).
    func testResolveRejectsNegativeAndAbsurdCountsNamingTheKey() {
        for bad in [-3, -1, ComputeContext.maxThreads + 1, 20_000] {
            XCTAssertThrowsError(try ComputeContext.resolve(threads: bad)) { error in
                let message = "\(error)"
                XCTAssertTrue(error is ComputeError, message)
                for part in ["--threads", "run.threads", "is \(bad)", "0 for all", "1 to \(ComputeContext.maxThreads)"] {
                    XCTAssertTrue(message.contains(part), "'\(part)' missing from: \(message)")
                }
            }
        }
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
