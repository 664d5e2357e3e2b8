// The compute context: how this run's arithmetic is executed, resolved once from the user's settings
// (`ComputeContext.resolve`) and passed down as an argument to every function that runs parallel loops or
// matrix products, so a signature says which code uses threads. Nothing reads a process-wide setting.
//
// Threads: one pool, ours. We split work ourselves into static contiguous chunks, matrix products
// included: `matmul`/`gemm` cut a product into one block per thread (rows of C, slices of the shared
// dimension, or images of a batch) and each block runs as a single-threaded oneDNN matmul primitive on its
// thread (MatmulPrimitive.swift). oneDNN is built with OpenMP; it is pinned to one thread on every thread
// that calls it, so OpenMP never starts a team: no second pool oversubscribes ours, and nothing spins
// idle between our passes and the library's. Reductions go through `reduce` (per-chunk partials added in
// chunk order), and a product split along its shared dimension adds its partial products in chunk order
// too, so results depend only on the sizes and the thread count.
//
// The context owns the cache of matmul primitives (`matmuls`): each product shape is created once per
// context and executed many times. Room for later (not implemented; each becomes a field here, resolved in
// `resolve`, so no second global appears): the precision of the products (fp32 today; bf16 where the CPU
// has full-rate bf16 dot products), and a communicator (rank, world size and the gradient all-reduce of
// data-parallel training).

import Dispatch
import Foundation

public struct ComputeContext: Sendable, Equatable, CustomStringConvertible {
    /// Threads of `forChunks`, `forEach`, `reduce`, `matmul` and `gemm` (1 … `maxThreads`).
    public let threads: Int

    /// This context's matmul primitives, one per product shape, created on first use (shared by copies of the context).
    public let matmuls: MatmulCache

    /// The largest thread count a run may ask for: more than any machine this runs on, small enough that
    /// a typo (`--threads 20000`) is caught rather than spawning thousands of chunks.
    public static let maxThreads = 4096

    /// One thread: loops run in order on the calling thread. A new context (and primitive cache) each time:
    /// hold on to one where products repeat.
    public static var serial: ComputeContext { ComputeContext(threads: 1) }

    /// Exactly `threads` threads (1 … `maxThreads`). User input goes through `resolve` instead.
    public init(threads: Int) {
        precondition((1...ComputeContext.maxThreads).contains(threads),
                     "ComputeContext needs 1…\(ComputeContext.maxThreads) threads, got \(threads)")
        self.threads = threads
        matmuls = MatmulCache()
    }

    /// Contexts are equal when they run the same way (their caches hold only what each has met so far).
    public static func == (a: ComputeContext, b: ComputeContext) -> Bool { a.threads == b.threads }

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
    /// C[m×n] = alpha·op(A)·op(B) + beta·C (+ `bias` [n] on every row; alpha 1), row-major with row strides
    /// lda, ldb, ldc (see GEMM.swift): `matmul` of the 2-D `MatmulShape`, split over the threads. m, n or k may be 0.
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                     alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                     b: UnsafePointer<Float>, ldb: Int,
                     beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, bias: UnsafePointer<Float>? = nil) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = (beta == 0 ? 0 : beta * c[i * ldc + j]) + (bias?[j] ?? 0) } }
            return
        }
        matmul(MatmulShape(transA: transA, transB: transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, alpha: alpha, beta: beta,
                           bias: bias != nil),
               a: a, b: b, c: c, bias: bias)
    }

    /// The product `s` (C = alpha·A·B + beta·C), cut into one block per thread, each block one cached primitive
    /// on its thread. A batched product is cut along its outermost batch dimension. A 2-D product is cut along
    /// the rows of C when A's rows are contiguous (the blocks stay dense, which oneDNN's fast kernel needs),
    /// else along the shared dimension k when that is the longest (the weight gradient dW = dYᵀ·X: blocks
    /// after the first go to zeroed partials, added to C in block order), else along the columns of C.
    /// Below ~1 MFLOP per thread it runs on the calling thread. `bias` [n] is given exactly when `s.bias`.
    public func matmul(_ s: MatmulShape, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                       bias: UnsafePointer<Float>? = nil) {
        guard threads > 1, s.flops >= Double(1 << 21) * Double(threads) else { return matmuls.run(s, a: a, b: b, c: c, bias: bias) }
        if let outer = s.batch.first {
            guard outer > 1 else { return matmuls.run(s, a: a, b: b, c: c, bias: bias) }
            let chunks = Swift.min(threads, outer)
            forEach(chunks) { t in
                let lo = outer * t / chunks, hi = outer * (t + 1) / chunks
                matmuls.run(s.outerBatch(hi - lo), a: a + lo * s.aStrides[0], b: b + lo * s.bStrides[0], c: c + lo * s.cStrides[0],
                            bias: bias)
            }
            return
        }
        let rowsContiguous = s.aStrides[1] == 1
        if rowsContiguous && s.m >= 32 * threads {
            splitOutput(s, rows: true, a: a, b: b, c: c, bias: bias)
        } else if s.k >= Swift.max(s.m, s.n) && s.k >= 32 * threads {
            splitShared(s, a: a, b: b, c: c, bias: bias)
        } else if Swift.max(s.m, s.n) >= 32 * threads {
            splitOutput(s, rows: s.m >= s.n, a: a, b: b, c: c, bias: bias)
        } else {
            matmuls.run(s, a: a, b: b, c: c, bias: bias)
        }
    }

    /// Block t of `extent` split `threads` ways, boundaries on multiples of 16 (whole vector tiles).
    private func block(_ t: Int, of extent: Int) -> Range<Int> {
        (extent * t / threads) & ~15 ..< (t == threads - 1 ? extent : (extent * (t + 1) / threads) & ~15)
    }

    /// One block of C's rows (or, `rows` false, of its columns) per thread: A's rows with it (B's columns, the bias's entries).
    private func splitOutput(_ s: MatmulShape, rows: Bool, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                             bias: UnsafePointer<Float>?) {
        forEach(threads) { t in
            let r = block(t, of: rows ? s.m : s.n), lo = r.lowerBound
            guard !r.isEmpty else { return }
            matmuls.run(MatmulShape(m: rows ? r.count : s.m, n: rows ? s.n : r.count, k: s.k, aStrides: s.aStrides, bStrides: s.bStrides,
                                    cStrides: s.cStrides, alpha: s.alpha, beta: s.beta, bias: s.bias),
                        a: rows ? a + lo * s.aStrides[0] : a, b: rows ? b : b + lo * s.bStrides[1], c: c + lo * s.cStrides[rows ? 0 : 1],
                        bias: rows ? bias : bias.map { $0 + lo })
        }
    }

    /// C = beta·C + alpha·Σ_t A[:, k_t]·B[k_t, :] (+ bias): block 0 (with the bias) into C, block t > 0 into its
    /// own dense partial [m, n], then the partials are added to C in block order (rows of C in parallel).
    private func splitShared(_ s: MatmulShape, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                             bias: UnsafePointer<Float>?) {
        let mn = s.m * s.n, threads = threads
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: (threads - 1) * mn)
        defer { partials.deallocate() }
        forEach(threads) { t in
            let r = block(t, of: s.k)
            let dst = t == 0 ? c : partials + (t - 1) * mn
            let dstStrides = t == 0 ? s.cStrides : [s.n, 1]
            guard !r.isEmpty else {
                if t > 0 { dst.update(repeating: 0, count: mn) }
                return
            }
            matmuls.run(MatmulShape(m: s.m, n: s.n, k: r.count, aStrides: s.aStrides, bStrides: s.bStrides, cStrides: dstStrides,
                                    alpha: s.alpha, beta: t == 0 ? s.beta : 0, bias: t == 0 && s.bias),
                        a: a + r.lowerBound * s.aStrides[1], b: b + r.lowerBound * s.bStrides[0], c: dst, bias: t == 0 ? bias : nil)
        }
        let ldc = s.cStrides[0], colStride = s.cStrides[1]
        forChunks(s.m, minChunk: Swift.max(1, 4096 / s.n)) { rows in
            for i in rows {
                let row = c + i * ldc
                for t in 1..<threads {
                    let p = partials + (t - 1) * mn + i * s.n
                    if colStride == 1 { Vec.add(p, into: row, count: s.n) } else { for j in 0..<s.n { row[j * colStride] += p[j] } }
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
