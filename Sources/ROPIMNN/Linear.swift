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
    /// With `groups` g > 1 the outputs come in g blocks, y [g, rows, out/g]: block j = x · W[j·out/g ..< (j+1)·out/g]ᵀ
    /// (attention's q, k, v, each a dense [rows, D] that the batched head products read in place). `groupBias`
    /// (g entries, for a layer without its own bias) adds its j-th vector [out/g] to block j (BEiT's q and v biases).
    /// Every bias is added by the product itself (the primitive's bias argument), not in a pass of its own.
    public func forward(_ p: ParameterStore, x: UnsafePointer<Float>, rows: Int, y: UnsafeMutablePointer<Float>, addBias: Bool = true,
                        groups: Int = 1, groupBias: [UnsafePointer<Float>?] = [], compute: ComputeContext) {
        precondition(groups >= 1 && outFeatures % groups == 0, "\(outFeatures) outputs do not split into \(groups) groups")
        precondition(groupBias.isEmpty || (groupBias.count == groups && bias == nil), "groupBias needs \(groups) entries and a layer without bias")
        let width = outFeatures / groups
        Profiler.measure("gemm") {
            for j in 0..<groups {
                let b = groupBias.isEmpty ? (addBias ? bias.map { UnsafePointer(p.value($0)) + j * width } : nil) : groupBias[j]
                compute.gemm(transA: false, transB: true, m: rows, n: width, k: inFeatures,
                             a: x, lda: inFeatures, b: p.value(weight) + j * width * inFeatures, ldb: inFeatures,
                             c: y + j * rows * width, ldc: width, bias: b)
            }
        }
    }

    /// dW [out, in] += dyᵀ·x ; db += Σ_rows dy (unless biasGradDone: the caller summed it in its own pass);
    /// dx [rows, in] = dy·W (or += when accumulate). dy is laid out as `forward`'s y with the same `groups`.
    public func backward(_ p: ParameterStore, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
                         dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false, biasGradDone: Bool = false,
                         groups: Int = 1, compute: ComputeContext) {
        precondition(groups >= 1 && outFeatures % groups == 0, "\(outFeatures) outputs do not split into \(groups) groups")
        let width = outFeatures / groups
        Profiler.measure("gemm") {
            for j in 0..<groups {
                let dyj = dy + j * rows * width
                compute.gemm(transA: true, transB: false, m: width, n: inFeatures, k: rows,
                             a: dyj, lda: width, b: x, ldb: inFeatures, beta: 1, c: p.grad(weight) + j * width * inFeatures, ldc: inFeatures)
                if !biasGradDone, let bias { Vec.addColumnSums(dyj, rows: rows, cols: width, into: p.grad(bias) + j * width, compute: compute) }
                if let dx {
                    compute.gemm(transA: false, transB: false, m: rows, n: inFeatures, k: width,
                                 a: dyj, lda: width, b: p.value(weight) + j * width * inFeatures, ldb: inFeatures,
                                 beta: accumulate || j > 0 ? 1 : 0, c: dx, ldc: inFeatures)
                }
            }
        }
    }
}
