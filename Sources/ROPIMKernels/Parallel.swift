// Thread count for the whole process: our own loops and the GEMM library's threads use the same
// number, so the two never oversubscribe the cores. Work is split statically, so results depend
// only on the thread count, never on scheduling.

import Dispatch
#if canImport(CDNNL)
import CDNNL
#endif

public enum Parallel {
    nonisolated(unsafe) public private(set) static var threads: Int = 1

    /// Sets the threads used by `forEach` and by GEMM.
    public static func setThreads(_ n: Int) {
        threads = Swift.max(1, n)
        #if canImport(CDNNL)
        omp_set_num_threads(Int32(threads))
        #endif
    }

    /// Runs body(range) over `count` items split into at most `threads` contiguous chunks.
    /// Use for loops whose iterations are independent and touch disjoint outputs.
    public static func forChunks(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = Swift.min(threads, Swift.max(1, count / Swift.max(minChunk, 1)))
        if chunks <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs body(i) for i in 0..<count, chunked over the threads.
    public static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Int) -> Void) {
        forChunks(count, minChunk: minChunk) { r in for i in r { body(i) } }
    }
}
