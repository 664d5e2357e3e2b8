// Thread count for the whole process. We split work ourselves (static contiguous chunks), including
// large GEMMs; the GEMM library always runs single-threaded on the calling thread, so its threads
// never fight ours and nothing spins idle. Results depend only on the thread count.

import Dispatch
#if canImport(CDNNL)
import CDNNL
#endif

public enum Parallel {
    nonisolated(unsafe) public private(set) static var threads: Int = 1

    /// Sets the threads used by `forChunks`/`forEach` and by `gemm`.
    public static func setThreads(_ n: Int) {
        threads = Swift.max(1, n)
        singleThreadedLibrary()
    }

    /// The GEMM library's thread count is a per-thread setting (OpenMP ICV): pin it to 1 on this thread.
    @inline(__always) static func singleThreadedLibrary() {
        #if canImport(CDNNL)
        omp_set_num_threads(1)
        #endif
    }

    /// Runs body(range) over `count` items split into at most `threads` contiguous chunks.
    /// Use for loops whose iterations are independent and touch disjoint outputs.
    public static func forChunks(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = Swift.min(threads, Swift.max(1, count / Swift.max(minChunk, 1)))
        if chunks <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            singleThreadedLibrary()
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs body(i) for i in 0..<count, chunked over the threads.
    public static func forEach(_ count: Int, minChunk: Int = 1, _ body: (Int) -> Void) {
        forChunks(count, minChunk: minChunk) { r in for i in r { body(i) } }
    }
}
