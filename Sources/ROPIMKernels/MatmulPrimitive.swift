// Matrix products as oneDNN matmul primitives: each product shape (batch, sizes, strides, alpha, beta) is
// created once, kept in the compute context's cache (`MatmulCache`, reached as `compute.matmuls`) and
// executed many times on the calling thread. The primitive runs single-threaded (`ComputeContext`'s policy:
// we split products over our own threads, Compute.swift); a product is created on, and for, one thread.
//
// oneDNN 2.6's fast kernel (brgemm, "brg:avx512_core") needs every operand dense in some order of its
// dimensions: A and B plain or transposed with no padding of the leading dimension, batch dimensions
// dense or permuted (the heads of attention read in place from [B, N, H, hd] are "acbd"). Other strides
// fall back to its plain GEMM kernel ("gemm:jit"), still correct. `MatmulPrimitive.implementation` says
// which one serves a shape (`ropim bench --gemm` prints it).
// Without oneDNN (macOS) a primitive is a loop of Accelerate's cblas_sgemm over the batch.

#if canImport(CDNNL)
import CDNNL
#elseif canImport(Accelerate)
import Accelerate
#endif
import Foundation

/// The shape of one (batched) product C = alpha·A·B + beta·C, all operands Float32 addressed by element
/// strides: A is [batch…, m, k], B [batch…, k, n], C [batch…, m, n]. A transposed operand is a stride
/// swap: Aᵀ stored row-major [k, m] with row stride lda has strides (1, lda).
public struct MatmulShape: Hashable, Sendable, CustomStringConvertible {
    /// Batch dimensions, outermost first ([] for a 2-D product; at most 4).
    public let batch: [Int]
    public let m: Int, n: Int, k: Int
    /// Element strides of A over (batch…, m, k), B over (batch…, k, n), C over (batch…, m, n).
    public let aStrides: [Int], bStrides: [Int], cStrides: [Int]
    public let alpha: Float, beta: Float
    /// C also gets a bias row [n] added to each of its rows, every batch entry alike (oneDNN's bias argument,
    /// added to the product in the kernel before C is stored; only with alpha 1).
    public let bias: Bool

    public init(batch: [Int] = [], m: Int, n: Int, k: Int, aStrides: [Int], bStrides: [Int], cStrides: [Int],
                alpha: Float = 1, beta: Float = 0, bias: Bool = false) {
        precondition(batch.count <= 4 && batch.allSatisfy { $0 >= 1 } && m >= 1 && n >= 1 && k >= 1,
                     "matmul needs batch dims ≥ 1 (at most 4) and m, n, k ≥ 1: batch \(batch) m \(m) n \(n) k \(k)")
        for (name, s) in [("A", aStrides), ("B", bStrides), ("C", cStrides)] {
            precondition(s.count == batch.count + 2 && s.allSatisfy { $0 >= 1 },
                         "matmul \(name) strides \(s) must be \(batch.count + 2) positive values")
        }
        self.batch = batch; self.m = m; self.n = n; self.k = k
        self.aStrides = aStrides; self.bStrides = bStrides; self.cStrides = cStrides
        self.alpha = alpha; self.beta = beta
        precondition(!bias || alpha == 1, "matmul bias needs alpha 1 (got \(alpha))")
        self.bias = bias
    }

    /// The BLAS-style 2-D product (row-major, see GEMM.swift): op(A) [m×k], op(B) [k×n], C [m×n] with row
    /// strides lda, ldb, ldc of the stored arrays.
    public init(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int,
                alpha: Float = 1, beta: Float = 0, bias: Bool = false) {
        self.init(m: m, n: n, k: k, aStrides: transA ? [1, lda] : [lda, 1], bStrides: transB ? [1, ldb] : [ldb, 1],
                  cStrides: [ldc, 1], alpha: alpha, beta: beta, bias: bias)
    }

    /// The same product over the first `count` entries of the outermost batch dimension (count ≥ 1).
    public func outerBatch(_ count: Int) -> MatmulShape {
        precondition(!batch.isEmpty && (1...batch[0]).contains(count), "outerBatch(\(count)) of batch \(batch)")
        return MatmulShape(batch: [count] + batch.dropFirst(), m: m, n: n, k: k, aStrides: aStrides, bStrides: bStrides,
                           cStrides: cStrides, alpha: alpha, beta: beta, bias: bias)
    }

    /// Multiply-adds × 2.
    public var flops: Double { 2 * Double(batch.reduce(1, *)) * Double(m) * Double(n) * Double(k) }

    public var description: String {
        "matmul batch \(batch) m \(m) n \(n) k \(k) strides A \(aStrides) B \(bStrides) C \(cStrides) alpha \(alpha) beta \(beta)\(bias ? " bias" : "")"
    }
}

/// One product shape, ready to execute on the calling thread (single-threaded). Made by `MatmulCache`.
public final class MatmulPrimitive: @unchecked Sendable {
    public let shape: MatmulShape
    /// The library's kernel for this shape: oneDNN's implementation name ("brg:avx512_core", "gemm:jit", …),
    /// or "cblas" / "reference" without oneDNN.
    public let implementation: String
    let scratchpadBytes: Int
    #if canImport(CDNNL)
    private let primitive: dnnl_primitive_t
    private var descs: [dnnl_memory_desc_t]   // A, B, C, scratchpad, bias (when the shape has one)

    init(_ s: MatmulShape, engine: dnnl_engine_t) {
        shape = s
        pinLibraryToOneThread()   // the kernel is planned for the threads the creating thread may use: one
        func desc(_ dims: [Int], _ strides: [Int]) -> dnnl_memory_desc_t {
            var md = dnnl_memory_desc_t()
            check(dnnl_memory_desc_init_by_strides(&md, Int32(dims.count), dims.map(Int64.init), dnnl_f32, strides.map(Int64.init)),
                  "memory desc", s)
            return md
        }
        var a = desc(s.batch + [s.m, s.k], s.aStrides), b = desc(s.batch + [s.k, s.n], s.bStrides)
        var c = desc(s.batch + [s.m, s.n], s.cStrides)
        // The bias row [1, n], broadcast over the rows and every batch dimension.
        var bias = desc(s.batch.map { _ in 1 } + [1, s.n], s.batch.map { _ in s.n } + [s.n, 1])
        var op = dnnl_matmul_desc_t()
        if s.bias {
            check(dnnl_matmul_desc_init(&op, &a, &b, &bias, &c), "matmul desc", s)
        } else {
            check(dnnl_matmul_desc_init(&op, &a, &b, nil, &c), "matmul desc", s)
        }
        var attr: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attr), "attr", s)
        defer { dnnl_primitive_attr_destroy(attr) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "scratchpad mode", s)
        if s.alpha != 1 {
            var alpha = s.alpha
            check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha), "output scale", s)
        }
        if s.beta != 0 {
            var ops: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&ops), "post ops", s)
            defer { dnnl_post_ops_destroy(ops) }
            check(dnnl_post_ops_append_sum(ops, s.beta), "sum post op", s)
            check(dnnl_primitive_attr_set_post_ops(attr, ops), "post ops", s)
        }
        var pd: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&pd, &op, attr, engine, nil), "primitive desc", s)
        defer { dnnl_primitive_desc_destroy(pd) }
        var impl: UnsafePointer<CChar>?
        check(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl), "implementation", s)
        implementation = impl.map { String(cString: $0) } ?? "?"
        let scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0)!.pointee
        var scratchDesc = scratch
        scratchpadBytes = dnnl_memory_desc_get_size(&scratchDesc)
        var p: dnnl_primitive_t?
        check(dnnl_primitive_create(&p, pd), "primitive", s)
        primitive = p!
        descs = [a, b, c, scratch, bias]
    }

    deinit { dnnl_primitive_destroy(primitive) }

    /// C = alpha·A·B + beta·C (+ the bias row) on the calling thread; `slot` (from the cache's pool) is this
    /// call's stream and scratchpad.
    func execute(a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                 slot: MatmulCache.Slot) {
        pinLibraryToOneThread()
        let handles: [UnsafeMutableRawPointer?] = [UnsafeMutableRawPointer(mutating: a), UnsafeMutableRawPointer(mutating: b),
                                                  UnsafeMutableRawPointer(c), slot.scratch(bytes: scratchpadBytes),
                                                  bias.map { UnsafeMutableRawPointer(mutating: $0) }]
        let argNames: [Int32] = [DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_SCRATCHPAD, DNNL_ARG_BIAS]
        var args: [dnnl_exec_arg_t] = []
        args.reserveCapacity(5)
        for i in 0..<5 where (i != 3 || scratchpadBytes > 0) && (i != 4 || shape.bias) {
            var mem: dnnl_memory_t?
            check(dnnl_memory_create(&mem, &descs[i], slot.engine, handles[i]), "memory", shape)
            args.append(dnnl_exec_arg_t(arg: argNames[i], memory: mem))
        }
        defer { for arg in args { dnnl_memory_destroy(arg.memory) } }
        check(dnnl_primitive_execute(primitive, slot.stream, Int32(args.count), args), "execute", shape)
    }
    #else
    init(_ s: MatmulShape) {
        shape = s
        scratchpadBytes = 0
        #if canImport(Accelerate)
        implementation = "cblas"
        #else
        implementation = "reference"
        #endif
    }

    /// Without oneDNN: one 2-D library call per batch entry (then the bias row added to C's rows); each matrix
    /// needs a unit stride in one of its two dims.
    func execute(a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
                 slot: MatmulCache.Slot) {
        let s = shape, nb = s.batch.count
        func plain(_ st: [Int], _ name: String) -> (trans: Bool, ld: Int) {
            let rows = st[nb], cols = st[nb + 1]
            if cols == 1 { return (false, rows) }
            precondition(rows == 1, "matmul \(name) strides \(st): one of the last two must be 1 without oneDNN")
            return (true, cols)
        }
        let (ta, lda) = plain(s.aStrides, "A"), (tb, ldb) = plain(s.bStrides, "B")
        precondition(s.cStrides[nb + 1] == 1, "matmul C strides \(s.cStrides): the last must be 1 without oneDNN")
        for flat in 0..<s.batch.reduce(1, *) {
            var rest = flat, oa = 0, ob = 0, oc = 0
            for d in (0..<nb).reversed() {
                let i = rest % s.batch[d]; rest /= s.batch[d]
                oa += i * s.aStrides[d]; ob += i * s.bStrides[d]; oc += i * s.cStrides[d]
            }
            #if canImport(Accelerate)
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        Int32(s.m), Int32(s.n), Int32(s.k), s.alpha, a + oa, Int32(lda), b + ob, Int32(ldb),
                        s.beta, c + oc, Int32(s.cStrides[nb]))
            #else
            referenceGEMM(transA: ta, transB: tb, m: s.m, n: s.n, k: s.k, alpha: s.alpha, a: a + oa, lda: lda,
                          b: b + ob, ldb: ldb, beta: s.beta, c: c + oc, ldc: s.cStrides[nb])
            #endif
            if let bias { for i in 0..<s.m { for j in 0..<s.n { c[oc + i * s.cStrides[nb] + j] += bias[j] } } }
        }
    }
    #endif
}

/// The primitives of one compute context, created on first use of a shape and kept for the context's life,
/// plus a pool of execution slots (a stream and a scratchpad each), one per concurrent call. Thread-safe.
public final class MatmulCache: @unchecked Sendable {
    private let lock = NSLock()
    private var primitives: [MatmulShape: MatmulPrimitive] = [:]
    private var idle: [Slot] = []
    #if canImport(CDNNL)
    private var engineHandle: dnnl_engine_t?   // created with the first primitive: a context that never multiplies costs nothing
    #endif

    public init() {}

    deinit {
        primitives.removeAll()
        idle.removeAll()
        #if canImport(CDNNL)
        if let engineHandle { dnnl_engine_destroy(engineHandle) }
        #endif
    }

    #if canImport(CDNNL)
    /// oneDNN's CPU engine (call with the lock held).
    private func engine() -> dnnl_engine_t {
        if let engineHandle { return engineHandle }
        var e: dnnl_engine_t?
        let status = dnnl_engine_create(&e, dnnl_cpu, 0)
        precondition(status == dnnl_success && e != nil, "oneDNN could not create its CPU engine (status \(status.rawValue))")
        engineHandle = e
        return e!
    }
    #endif

    /// The primitive for `shape`, created now if this cache has none yet.
    public func primitive(_ shape: MatmulShape) -> MatmulPrimitive {
        lock.lock(); defer { lock.unlock() }
        if let p = primitives[shape] { return p }
        #if canImport(CDNNL)
        let p = MatmulPrimitive(shape, engine: engine())
        #else
        let p = MatmulPrimitive(shape)
        #endif
        primitives[shape] = p
        return p
    }

    /// How many distinct shapes have been created.
    public var count: Int { lock.lock(); defer { lock.unlock() }; return primitives.count }

    /// The distinct kernel names of the primitives created so far, sorted.
    public var implementations: [String] {
        lock.lock(); defer { lock.unlock() }
        return Set(primitives.values.map(\.implementation)).sorted()
    }

    /// C = alpha·A·B + beta·C for `shape`, on the calling thread; `bias` [n] (given exactly when `shape.bias`)
    /// is added to every row of C.
    public func run(_ shape: MatmulShape, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
                    bias: UnsafePointer<Float>? = nil) {
        precondition(shape.bias == (bias != nil), "matmul bias pointer \(bias == nil ? "missing" : "given") for \(shape)")
        let p = primitive(shape)
        let slot = take()
        p.execute(a: a, b: b, c: c, bias: bias, slot: slot)
        give(slot)
    }

    private func take() -> Slot {
        lock.lock(); defer { lock.unlock() }
        #if canImport(CDNNL)
        return idle.popLast() ?? Slot(engine: engine())
        #else
        return idle.popLast() ?? Slot()
        #endif
    }

    private func give(_ slot: Slot) { lock.lock(); idle.append(slot); lock.unlock() }

    /// What one running product needs of its own: a stream and a scratchpad that grows to the largest asked for.
    final class Slot {
        private var buffer: UnsafeMutableRawPointer?
        private var bytes = 0
        #if canImport(CDNNL)
        let engine: dnnl_engine_t
        let stream: dnnl_stream_t

        init(engine: dnnl_engine_t) {
            self.engine = engine
            var s: dnnl_stream_t?
            let status = dnnl_stream_create(&s, engine, UInt32(dnnl_stream_default_flags.rawValue))
            precondition(status == dnnl_success && s != nil, "oneDNN could not create a stream (status \(status.rawValue))")
            stream = s!
        }
        #else
        init() {}
        #endif

        deinit {
            buffer?.deallocate()
            #if canImport(CDNNL)
            dnnl_stream_destroy(stream)
            #endif
        }

        /// A 64-byte aligned scratchpad of at least `count` bytes (nil for 0), valid until the next call.
        func scratch(bytes count: Int) -> UnsafeMutableRawPointer? {
            guard count > 0 else { return nil }
            if count > bytes {
                buffer?.deallocate()
                buffer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
                bytes = count
            }
            return buffer
        }
    }
}

/// oneDNN's thread count is a per-thread setting (OpenMP ICV): pin it to 1 on the calling thread before
/// creating or running a primitive, so the library plans for one thread and never starts a team of its own.
@inline(__always) func pinLibraryToOneThread() {
    #if canImport(CDNNL)
    omp_set_num_threads(1)
    #endif
}

#if canImport(CDNNL)
/// oneDNN reports bad shapes as a status: a failure here is a programming error in the caller's shape.
@inline(__always) private func check(_ status: dnnl_status_t, _ what: String, _ s: MatmulShape) {
    precondition(status == dnnl_success, "oneDNN \(what) failed (status \(status.rawValue)) for \(s)")
}
#endif
