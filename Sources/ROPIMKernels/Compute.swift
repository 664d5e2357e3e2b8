// The compute context: how this run's arithmetic is executed, resolved once from the user's settings
// (`ComputeContext.resolve`) and passed down as an argument to every function that runs parallel loops or
// matrix products, so a signature says which code uses threads. Nothing reads a process-wide setting.
//
// Threads: we split work ourselves into static contiguous chunks, large GEMMs included; the GEMM library
// always runs single-threaded on the calling thread (`gemmSingle` pins OpenMP to 1), so its threads never
// fight ours and nothing spins idle. Reductions go through `reduce`: per-chunk partials added in chunk
// order, so results depend only on the sizes and the thread count.
//
// Room for later (not implemented; each becomes a field here, resolved in `resolve`, so no second global
// appears): the product backend (which GEMM library or primitive serves `gemm`), the precision of the
// products (fp32 today; bf16 where the CPU has full-rate bf16 dot products), and a communicator (rank,
// world size and the gradient all-reduce of data-parallel training).

import Dispatch
import Foundation

public struct ComputeContext: Sendable, Equatable, CustomStringConvertible {
    /// Threads of `forChunks`, `forEach`, `reduce` and `gemm` (1 … `maxThreads`).
    public let threads: Int

    /// The largest thread count a run may ask for: more than any machine this runs on, small enough that
    /// a typo (`--threads 20000`) is caught rather than spawning thousands of chunks.
    public static let maxThreads = 4096

    /// One thread: loops run in order on the calling thread.
    public static let serial = ComputeContext(threads: 1)

    /// Exactly `threads` threads (1 … `maxThreads`). User input goes through `resolve` instead.
    public init(threads: Int) {
        precondition((1...ComputeContext.maxThreads).contains(threads),
                     "ComputeContext needs 1…\(ComputeContext.maxThreads) threads, got \(threads)")
        self.threads = threads
    }

    /// The one range check of a user's thread count (`run.threads`, `--threads`): nil when `threads` is
    /// 0 (all cores) … `maxThreads`, else "KEY must be in 0...4096 (0 = all cores), got N". The setting's
    /// owner calls it when validating (RunConfig.validate, the CLI's --threads).
    public static func problem(threads: Int, key: String) -> String? {
        Check.int(key, threads, 0...maxThreads, " (0 = all cores)")
    }

    /// The context for a validated thread setting (`problem(threads:key:)` is nil): 0 = every core this
    /// process may use (at most `maxThreads`), else that many threads. The one place the core count is read.
    public static func resolve(threads: Int) -> ComputeContext {
        if let p = problem(threads: threads, key: "threads") { preconditionFailure("unvalidated thread setting: \(p)") }
        if threads > 0 { return ComputeContext(threads: threads) }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        return ComputeContext(threads: Swift.min(Swift.max(cores, 1), maxThreads))
    }

    public var description: String { "\(threads) thread\(threads == 1 ? "" : "s")" }

    // MARK: parallel loops

    /// Runs body(range) over `count` items split into at most `threads` contiguous chunks of at least
    /// `minChunk` items. For loops whose iterations are independent and write disjoint outputs.
    public func forChunks(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunks = Swift.min(threads, Swift.max(1, count / Swift.max(minChunk, 1)))
        if chunks <= 1 { body(0..<count); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = count * c / chunks, hi = count * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs body(i) for i in 0..<count, chunked over the threads.
    public func forEach(_ count: Int, minChunk: Int = 1, _ body: (Int) -> Void) {
        forChunks(count, minChunk: minChunk) { r in for i in r { body(i) } }
    }
}

// MARK: matrix products

extension ComputeContext {
    /// C[m×n] = alpha·op(A)·op(B) + beta·C (row-major; see GEMM.swift), split into one block of C per thread
    /// (along its longer side), each block one `gemmSingle` call on its own thread.
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int,
                     beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        // Below ~1 MFLOP per thread the split costs more than it gains.
        guard threads > 1, m * n * k >= (1 << 20) * threads, Swift.max(m, n) >= 32 * threads else {
            gemmSingle(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc)
            return
        }
        let splitRows = m >= n
        let extent = splitRows ? m : n, threads = threads
        forChunks(threads) { r in
            for t in r {
                // Block boundaries on multiples of 16 keep the library's vector tiles whole.
                let lo = (extent * t / threads) & ~15, hi = t == threads - 1 ? extent : (extent * (t + 1) / threads) & ~15
                guard lo < hi else { continue }
                if splitRows {
                    gemmSingle(transA: transA, transB: transB, m: hi - lo, n: n, k: k, alpha: alpha,
                               a: transA ? a + lo : a + lo * lda, lda: lda, b: b, ldb: ldb, beta: beta, c: c + lo * ldc, ldc: ldc)
                } else {
                    gemmSingle(transA: transA, transB: transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda,
                               b: transB ? b + lo * ldb : b + lo, ldb: ldb, beta: beta, c: c + lo, ldc: ldc)
                }
            }
        }
    }
}

// MARK: deterministic reductions

extension ComputeContext {
    /// The one chunk plan of every reduction: sums (in `Element`) over `rows` rows of `cols` values each.
    /// The rows are cut into at most `threads` contiguous chunks of at least `minChunk` values
    /// (`rows·cols / minChunk` chunks when that is fewer). `body(rows, partial)` sums its chunk's rows, in
    /// order, into its own zeroed partial of `width` elements; then `combine(partial)` sees the partials in
    /// chunk order on the calling thread. The chunks depend only on the sizes and the thread count, so the
    /// result does too.
    public func reduce<Element: BinaryFloatingPoint>(
        _: Element.Type, rows: Int, cols: Int, minChunk: Int = 1 << 16, width: Int,
        _ body: (Range<Int>, UnsafeMutablePointer<Element>) -> Void,
        combine: (UnsafePointer<Element>) -> Void
    ) {
        let chunks = Swift.min(threads, Swift.max(1, rows * cols / Swift.max(minChunk, 1)))
        let count = chunks * width, stride = MemoryLayout<Element>.stride
        // 64-byte aligned like Tensor: the partials are read and written as SIMD rows.
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(count, 1) * stride, alignment: 64)
        defer { raw.deallocate() }
        let partials = raw.bindMemory(to: Element.self, capacity: Swift.max(count, 1))
        partials.initialize(repeating: 0, count: count)
        forEach(chunks) { c in body((rows * c / chunks)..<(rows * (c + 1) / chunks), partials + c * width) }
        for c in 0..<chunks { combine(partials + c * width) }
    }
}
