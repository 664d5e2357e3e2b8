// Fully connected layer, torch layout: y = x·Wᵀ + b with W [out, in].

import ROPIMKernels

public struct Linear {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: ParamRef
    public let bias: ParamRef?

    /// `weightShape` overrides the registered (torch) shape when the same memory is a conv kernel,
    /// e.g. [D, C, p, p] for the patch embedding.
    public init(_ params: ParameterStore, _ name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true,
                weightShape: [Int]? = nil) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = params.add("\(name).weight", shape: weightShape ?? [outFeatures, inFeatures])
        self.bias = bias ? params.add("\(name).bias", shape: [outFeatures]) : nil
    }

    /// y [rows, out] = x [rows, in] · Wᵀ + b (without b when addBias is false: the caller fuses it into its next pass).
    public func forward(_ p: ParameterStore, x: UnsafePointer<Float>, rows: Int, y: UnsafeMutablePointer<Float>, addBias: Bool = true,
                        compute: ComputeContext) {
        Profiler.measure("gemm") {
            compute.gemm(transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures,
                         a: x, lda: inFeatures, b: p.value(weight), ldb: inFeatures, c: y, ldc: outFeatures)
            if addBias, let bias { Vec.addRowVector(p.value(bias), to: y, rows: rows, cols: outFeatures, compute: compute) }
        }
    }

    /// dW [out, in] += dyᵀ·x ; db += Σ_rows dy (unless biasGradDone: the caller summed it in its own pass);
    /// dx [rows, in] = dy·W (or += when accumulate).
    public func backward(_ p: ParameterStore, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
                         dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false, biasGradDone: Bool = false,
                         compute: ComputeContext) {
        Profiler.measure("gemm") {
            compute.gemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows,
                         a: dy, lda: outFeatures, b: x, ldb: inFeatures, beta: 1, c: p.grad(weight), ldc: inFeatures)
            if !biasGradDone, let bias { Vec.addColumnSums(dy, rows: rows, cols: outFeatures, into: p.grad(bias), compute: compute) }
            if let dx {
                compute.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: outFeatures,
                     a: dy, lda: outFeatures, b: p.value(weight), ldb: inFeatures,
                     beta: accumulate ? 1 : 0, c: dx, ldc: inFeatures)
            }
        }
    }
}
