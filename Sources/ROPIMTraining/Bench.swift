// `ropim bench`: times the pre-training step, forward only, and each op family, against an
// analytic FLOP count and this machine's measured FMA peak. Median of repeated steps after warm-up.

import Dispatch
import Foundation
import Logging
import ROPIMCore
import ROPIMData
import ROPIMKernels
import ROPIMNN
import ROPIMOptim

public struct BenchResult: Codable, Sendable {
    public var preset: String
    public var imgSize: Int, patchSize: Int, embedDim: Int, depth: Int, tokens: Int
    public var batchSize: Int, threads: Int, corruption: String, steps: Int
    public var stepSeconds: Double
    public var forwardSeconds: Double
    public var imagesPerSecond: Double
    public var forwardImagesPerSecond: Double
    /// Analytic FLOP of one training step per image (GEMMs and attention products; 3 × forward).
    public var gflopPerImage: Double
    public var gflops: Double
    public var peakGflops: Double
    public var peakFraction: Double
    public var peakRssBytes: Int
    /// Seconds per training step by op family (gemm, attention, layernorm, gelu, elementwise, sketch, loss, optimizer, other).
    public var opSeconds: [String: Double]
}

public enum Bench {
    /// FLOP of the forward pass for one image: every matrix product (2·m·n·k).
    public static func forwardFlops(_ v: ViTConfig) -> Double {
        let n = Double(v.numTokens), k = Double(v.numPatches), d = Double(v.embedDim), h = Double(Int(Double(v.embedDim) * v.mlpRatio))
        let pd = Double(v.patchDim)
        let block = 2 * n * d * (3 * d) + 2 * n * d * d + 2 * 2 * n * d * h + 2 * 2 * n * n * d
        return 2 * k * pd * d + Double(v.depth) * block + 2 * k * d * pd
    }

    /// A training step: forward + backward (2× forward, less the patch embedding's unused input gradient).
    public static func stepFlops(_ v: ViTConfig) -> Double {
        3 * forwardFlops(v) - 2 * Double(v.numPatches * v.patchDim * v.embedDim)
    }

    /// Measured FMA throughput (GFLOP/s) of the context's threads, each running independent SIMD16 FMA chains.
    public static func measurePeak(compute: ComputeContext, seconds: Double = 0.3, iterations: Int = 2_000_000) -> Double {
        let threads = compute.threads
        func kernel() -> Float {
            var a0 = Float16x(repeating: 1), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
            var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
            let m = Float16x(repeating: 0.999_999), c = Float16x(repeating: 1e-7)
            for _ in 0..<iterations {
                a0 = a0.addingProduct(m, c); a1 = a1.addingProduct(m, c); a2 = a2.addingProduct(m, c)
                a3 = a3.addingProduct(m, c); a4 = a4.addingProduct(m, c); a5 = a5.addingProduct(m, c)
                a6 = a6.addingProduct(m, c); a7 = a7.addingProduct(m, c); a8 = a8.addingProduct(m, c)
                a9 = a9.addingProduct(m, c); a10 = a10.addingProduct(m, c); a11 = a11.addingProduct(m, c)
            }
            let s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
            return s.sum()
        }
        var best = 0.0
        var sink: Float = 0
        let start = Date()
        repeat {
            let t0 = DispatchTime.now().uptimeNanoseconds
            var sums = [Float](repeating: 0, count: threads)
            sums.withUnsafeMutableBufferPointer { buf in
                let p = buf.baseAddress!
                compute.forEach(threads) { t in p[t] = kernel() }
            }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            sink += sums.reduce(0, +)
            // 12 chains × 16 lanes × 2 FLOP per iteration per thread.
            best = Swift.max(best, Double(threads * iterations * 12 * 16 * 2) / dt / 1e9)
        } while Date().timeIntervalSince(start) < seconds
        // Using the sums keeps the kernel from being optimized away.
        if !sink.isFinite { Logger.current.debug("the FMA peak probe's sums are not finite (\(sink)); its timing still holds") }
        return best
    }

    /// Wall-clock seconds of body.
    static func time(_ body: () -> Void) -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }

    /// Peak resident set size of this process so far.
    public static func peakRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024   // kilobytes on Linux
    }

    /// Runs `warmup` + `steps` training steps and `steps` forward passes on a fixed synthetic batch.
    /// `peakGflops` replaces the probe (tests).
    public static func run(config c: PretrainConfig, preset: String, steps: Int, warmup: Int, peakGflops: Double? = nil,
                           compute: ComputeContext) throws -> BenchResult {
        let v = c.model, b = c.optim.batchSize
        let bench = try BenchStep(config: c, compute: compute)
        func step() { try! bench.step() }   // synthetic, finite data; a non-finite loss here is a bug
        for _ in 0..<warmup { step() }
        Profiler.reset()
        Profiler.enabled = true
        let stepTimes = (0..<steps).map { _ in time(step) }.sorted()
        Profiler.enabled = false
        var ops = Profiler.seconds.mapValues { $0 / Double(steps) }
        let stepMedian = stepTimes[steps / 2]
        ops["other"] = Swift.max(0, stepTimes.reduce(0, +) / Double(steps) - ops.values.reduce(0, +))
        let forwardTimes = (0..<steps).map { _ in time { bench.forward() } }.sorted()
        let peak = peakGflops ?? measurePeak(compute: compute)
        let flops = stepFlops(v) * Double(b)
        return BenchResult(preset: preset, imgSize: v.imgSize, patchSize: v.patchSize, embedDim: v.embedDim, depth: v.depth,
                           tokens: v.numPatches, batchSize: b, threads: compute.threads, corruption: c.method.corruption.rawValue,
                           steps: steps, stepSeconds: stepMedian, forwardSeconds: forwardTimes[steps / 2],
                           imagesPerSecond: Double(b) / stepMedian, forwardImagesPerSecond: Double(b) / forwardTimes[steps / 2],
                           gflopPerImage: stepFlops(v) / 1e9, gflops: flops / stepMedian / 1e9, peakGflops: peak,
                           peakFraction: flops / stepMedian / 1e9 / peak, peakRssBytes: peakRSS(), opSeconds: ops)
    }
}

/// One matrix product of the training step, timed on its own (`ropim bench --gemm`).
public struct GEMMShapeResult: Codable, Sendable {
    public var layer: String, pass: String
    /// "NN", "NT", "TN": whether A and B are read transposed; batch dims [images, heads] for attention.
    public var op: String, batch: [Int], m: Int, n: Int, k: Int
    /// How many times one training step runs this product.
    public var perStep: Int
    /// The library kernels that ran it (oneDNN implementation names of its per-thread blocks).
    public var implementation: String
    public var seconds: Double, gflops: Double, peakFraction: Double
}

/// A product of the step as the layers run it: a linear layer's through `ComputeContext.matmul`, attention's
/// per image group (`HeadProducts.forGroups`) with `shape.batch` = [B, H].
public struct StepProduct: Sendable {
    public var layer: String, pass: String, shape: MatmulShape, perStep: Int
    public var attention: Bool { !shape.batch.isEmpty }
}

extension Bench {
    /// The distinct products of one training step with the step's sizes: each linear layer's forward
    /// y = x·Wᵀ, dX = dY·W and dW += dYᵀ·x (rows = B·N in the blocks, B·K for patch embedding and decoder;
    /// qkv as three [D → D] products, q, k and v), and attention's batched head products (QKᵀ, P·V, and
    /// backward's dP = dO·Vᵀ, dV = Pᵀ·dO, dQ = dS·K, dK = dSᵀ·Q). Backward also recomputes QKᵀ, not counted
    /// in `perStep` (it is not in the analytic FLOP count).
    public static func stepProducts(_ v: ViTConfig, batch b: Int) -> [StepProduct] {
        let d = v.embedDim, h = Int(Double(v.embedDim) * v.mlpRatio), rows = b * v.numTokens, patches = b * v.numPatches
        let layers = [("patch_embed", v.patchDim, d, patches, 1, 1), ("qkv", d, d, rows, 3, v.depth), ("proj", d, d, rows, 1, v.depth),
                      ("fc1", d, h, rows, 1, v.depth), ("fc2", h, d, rows, 1, v.depth), ("decoder", d, v.patchDim, patches, 1, 1)]
        var out: [StepProduct] = []
        for (name, inF, outF, r, groups, blocks) in layers {
            let times = groups * blocks
            out.append(StepProduct(layer: name, pass: "forward", shape: MatmulShape(transA: false, transB: true, m: r, n: outF, k: inF,
                                                                                      lda: inF, ldb: inF, ldc: outF), perStep: times))
            if name != "patch_embed" {   // the image needs no gradient
                out.append(StepProduct(layer: name, pass: "dX", shape: MatmulShape(transA: false, transB: false, m: r, n: inF, k: outF,
                                                                                     lda: outF, ldb: inF, ldc: inF), perStep: times))
            }
            out.append(StepProduct(layer: name, pass: "dW", shape: MatmulShape(transA: true, transB: false, m: outF, n: inF, k: r,
                                                                                 lda: outF, ldb: inF, ldc: inF, beta: 1), perStep: times))
        }
        let heads = HeadProducts(heads: v.numHeads, tokens: v.numTokens, headDim: d / v.numHeads)
        let scale = 1 / Float(d / v.numHeads).squareRoot()
        for (pass, shape) in [("QKᵀ", heads.scores(b, alpha: scale)), ("P·V", heads.probsTimesHeads(b)),
                              ("dP=dO·Vᵀ", heads.scores(b, alpha: 1)), ("dV=Pᵀ·dO", heads.probsTimesHeads(b, transposed: true)),
                              ("dQ=dS·K", heads.probsTimesHeads(b, alpha: scale)),
                              ("dK=dSᵀ·Q", heads.probsTimesHeads(b, transposed: true, alpha: scale))] {
            out.append(StepProduct(layer: "attention", pass: pass, shape: shape, perStep: v.depth))
        }
        return out
    }

    /// Times each product of `stepProducts` (median of `repeats` after one warm-up call) on random operands,
    /// each through a fresh context of `compute`'s threads (so its cache holds just that product's primitives).
    public static func runGEMMShapes(config c: PretrainConfig, repeats: Int, peakGflops: Double? = nil,
                                     compute: ComputeContext) -> [GEMMShapeResult] {
        let peak = peakGflops ?? measurePeak(compute: compute)
        let v = c.model, batch = c.optim.batchSize
        let heads = HeadProducts(heads: v.numHeads, tokens: v.numTokens, headDim: v.embedDim / v.numHeads)
        var rng = RNG(seed: 1)
        return stepProducts(v, batch: batch).map { p in
            let s = p.shape, context = ComputeContext(threads: compute.threads)
            // Elements each operand spans: the farthest element + 1.
            func span(_ dims: [Int], _ strides: [Int]) -> Int { zip(dims, strides).reduce(1) { $0 + ($1.0 - 1) * $1.1 } }
            let a = Tensor(shape: [span(s.batch + [s.m, s.k], s.aStrides)]), bm = Tensor(shape: [span(s.batch + [s.k, s.n], s.bStrides)])
            let cm = Tensor(shape: [span(s.batch + [s.m, s.n], s.cStrides)])
            for t in [a, bm] { for i in 0..<t.count { t[i] = Float(rng.normal()) } }
            func call() {
                guard p.attention else { return context.matmul(s, a: a.data, b: bm.data, c: cm.data) }
                heads.forGroups(batch, compute: context) { images in
                    let lo = images.lowerBound
                    context.matmuls.run(s.outerBatch(images.count), a: a.data + lo * s.aStrides[0], b: bm.data + lo * s.bStrides[0],
                                        c: cm.data + lo * s.cStrides[0])
                }
            }
            call()
            let times = (0..<Swift.max(1, repeats)).map { _ in time(call) }.sorted()
            let t = times[times.count / 2], gflops = s.flops / t / 1e9
            let last = s.batch.count + 1
            let op = (s.aStrides[last] == 1 ? "N" : "T") + (s.bStrides[last] == 1 ? "N" : "T")
            return GEMMShapeResult(layer: p.layer, pass: p.pass, op: op, batch: s.batch, m: s.m, n: s.n, k: s.k, perStep: p.perStep,
                                   implementation: context.matmuls.implementations.joined(separator: ","),
                                   seconds: t, gflops: gflops, peakFraction: gflops / peak)
        }
    }
}

/// The training loop's own step on a fixed synthetic batch [optim.batch_size, C, S, S]: what both
/// benchmarks (`ropim bench`, `ropim bench-data`) time. Learning rate 1e-4, seeded by `run.seed`.
public final class BenchStep {
    public let model: any PretrainingObjective
    public let loop: TrainLoop
    let images: Tensor
    var rng: RNG
    let batch: Int
    /// Threads of every step and forward pass.
    public let compute: ComputeContext

    public init(config c: PretrainConfig, compute: ComputeContext) throws {
        let v = c.model
        batch = c.optim.batchSize
        self.compute = compute
        model = try Objectives.make(vit: v, method: c.method)
        rng = RNG(seed: UInt64(truncatingIfNeeded: c.run.seed))
        model.initialize(rng: &rng)
        loop = TrainLoop(params: model.params, optimizer: AdamW(params: model.params, config: c.optim, depth: v.depth), optim: c.optim,
                         compute: compute)
        images = Tensor(shape: [batch, v.inChans, v.imgSize, v.imgSize])
        for i in 0..<images.count { images[i] = Float(rng.normal()) }
    }

    /// One optimizer step (zero grads, forward, backward, clip, AdamW).
    public func step() throws {
        _ = try loop.step(lr: 1e-4, forward: { _ in self.forward() }, backward: { self.model.backward(lossScale: $0, compute: self.compute) })
    }

    /// A forward pass alone; returns its loss.
    @discardableResult
    public func forward() -> Double { model.forward(images: images, batch: batch, training: true, rng: &rng, compute: compute) }
}
