import XCTest
import Foundation
import ROPIMKernels
@testable import ROPIMNN

/// Finite-difference checks of every layer's backward and of whole tiny ViTs. Errors are
/// |a − n| / (|a| + |n| + floor): 5e-3 is 0.5 % on gradients well above the floor. Float32 central
/// differences (eps 1e-2) through a whole ViT carry ~3e-4 absolute noise, hence the floor 0.1 there;
/// a dropped term, a wrong transpose or a missing scale moves gradients by far more.
final class GradientTests: XCTestCase {
    let tolerance = 5e-3

    func randomize(_ t: Tensor, _ rng: inout RNG, scale: Float = 1) {
        for i in 0..<t.count { t[i] = Float(rng.normal()) * scale }
    }

    func randomizeParams(_ p: ParameterStore, _ rng: inout RNG, scale: Float = 0.3) {
        for i in 0..<p.count { p.values[i] = Float(rng.normal()) * scale }
    }

    func testLinear() {
        var rng = RNG(seed: 1)
        let p = ParameterStore()
        let lin = Linear(p, "fc", inFeatures: 5, outFeatures: 4)
        p.allocate(); randomizeParams(p, &rng)
        let rows = 3
        let x = Tensor(shape: [rows, 5]), y = Tensor(shape: [rows, 4]), w = Tensor(shape: [rows, 4]), dx = Tensor(shape: [rows, 5])
        randomize(x, &rng); randomize(w, &rng)
        let targets = GradientCheck.targets(p) + [("x", x.data, dx.data, x.count)]
        let r = GradientCheck.run(targets: targets, loss: {
            lin.forward(p, x: x.data, rows: rows, y: y.data, compute: .serial)
            return GradientCheck.dot(y.data, w.data, count: y.count)
        }, analytic: {
            p.zeroGrads(); lin.forward(p, x: x.data, rows: rows, y: y.data, compute: .serial)
            lin.backward(p, dy: w.data, x: x.data, rows: rows, dx: dx.data, compute: .serial)
        })
        XCTAssertLessThan(r.maxError, tolerance, r.description)
    }

    func testLayerNorm() {
        var rng = RNG(seed: 2)
        let p = ParameterStore()
        // 40 = two SIMD16 bodies + a scalar tail of 8.
        let ln = LayerNorm(p, "norm", dim: 40)
        p.allocate(); randomizeParams(p, &rng, scale: 1)
        let rows = 4
        let x = Tensor(shape: [rows, 40]), y = Tensor(shape: [rows, 40]), w = Tensor(shape: [rows, 40]), dx = Tensor(shape: [rows, 40])
        let mean = Tensor(shape: [rows]), rstd = Tensor(shape: [rows])
        randomize(x, &rng); randomize(w, &rng)
        let targets = GradientCheck.targets(p) + [("x", x.data, dx.data, x.count)]
        let r = GradientCheck.run(targets: targets, eps: 1e-3, loss: {
            ln.forward(p, x: x.data, rows: rows, y: y.data, mean: mean.data, rstd: rstd.data, compute: .serial)
            return GradientCheck.dot(y.data, w.data, count: y.count)
        }, analytic: {
            p.zeroGrads(); ln.forward(p, x: x.data, rows: rows, y: y.data, mean: mean.data, rstd: rstd.data, compute: .serial)
            ln.backward(p, dy: w.data, x: x.data, rows: rows, mean: mean.data, rstd: rstd.data, dx: dx.data, accumulate: false, compute: .serial)
        })
        XCTAssertLessThan(r.maxError, tolerance, r.description)
    }

    func testGELU() {
        var rng = RNG(seed: 3)
        let n = 64
        let x = Tensor(shape: [n]), y = Tensor(shape: [n]), w = Tensor(shape: [n]), dx = Tensor(shape: [n])
        randomize(x, &rng, scale: 2); randomize(w, &rng)
        let r = GradientCheck.run(targets: [("x", x.data, dx.data, n)], samples: 20, eps: 1e-3, loss: {
            GELU.forward(x.data, y.data, count: n, compute: .serial)
            return GradientCheck.dot(y.data, w.data, count: n)
        }, analytic: {
            GELU.backward(w.data, x.data, dx.data, count: n, compute: .serial)
        })
        XCTAssertLessThan(r.maxError, tolerance, r.description)
        // Exact GELU values (torch.nn.functional.gelu, approximate='none').
        let probe = Tensor(shape: [3], values: [-1, 0.5, 2]), out = Tensor(shape: [3])
        GELU.forward(probe.data, out.data, count: 3, compute: .serial)
        XCTAssertEqual(out[0], -0.15865525, accuracy: 1e-6)
        XCTAssertEqual(out[1], 0.34573123, accuracy: 1e-6)
        XCTAssertEqual(out[2], 1.95449974, accuracy: 1e-6)
    }

    /// The MLP's fused kernels against the elementwise pair: bias + GELU in one pass, value and
    /// derivative from one exp, and dy ⊙ GELU' with the bias gradient's column sums in the same pass.
    /// 37 columns: two full vectors and a tail; 3 threads exercise the per-thread partial sums.
    func testFusedGELUKernelsMatchTheElementwiseOnes() {
        var rng = RNG(seed: 11)
        let rows = 40, cols = 37, n = rows * cols
        let h = Tensor(shape: [rows, cols]), bias = Tensor(shape: [cols]), dy = Tensor(shape: [rows, cols])
        randomize(h, &rng, scale: 3); randomize(bias, &rng); randomize(dy, &rng)
        let withBias = Tensor(shape: [rows, cols]), yRef = Tensor(shape: [rows, cols]), dxRef = Tensor(shape: [rows, cols])
        for r in 0..<rows { for c in 0..<cols { withBias[r * cols + c] = h[r * cols + c] + bias[c] } }
        GELU.forward(withBias.data, yRef.data, count: n, compute: .serial)
        GELU.backward(dy.data, withBias.data, dxRef.data, count: n, compute: .serial)
        var biasGradRef = [Double](repeating: 0, count: cols)
        for r in 0..<rows { for c in 0..<cols { biasGradRef[c] += Double(dxRef[r * cols + c]) } }

        for threads in [1, 3] {
            let compute = ComputeContext(threads: threads)
            let hf = Tensor(shape: [rows, cols]), y = Tensor(shape: [rows, cols]), y2 = Tensor(shape: [rows, cols])
            let d = Tensor(shape: [rows, cols]), biasGrad = Tensor(shape: [cols])
            hf.data.update(from: h.data, count: n)
            GELU.forward(hf.data, addingBias: bias.data, into: y.data, rows: rows, cols: cols, compute: compute)
            for i in 0..<n {
                XCTAssertEqual(hf[i], withBias[i], "h + bias at \(i)")
                XCTAssertEqual(y[i], yRef[i], accuracy: 1e-6, "GELU at \(i)")
            }
            GELU.valueAndDerivative(hf.data, value: y2.data, derivative: d.data, count: n, compute: compute)
            GELU.backward(dy.data, derivative: d.data, d.data, rows: rows, cols: cols, biasGrad: biasGrad.data, compute: compute)
            for i in 0..<n {
                XCTAssertEqual(y2[i], yRef[i], accuracy: 1e-6, "rebuilt GELU at \(i)")
                XCTAssertEqual(d[i], dxRef[i], accuracy: 1e-5 * (1 + abs(dxRef[i])), "dx at \(i)")
            }
            for c in 0..<cols { XCTAssertEqual(Double(biasGrad[c]), biasGradRef[c], accuracy: 1e-4, "bias grad \(c)") }
        }
    }

    func testAttentionWithOwnRelativeBias() {
        var rng = RNG(seed: 4)
        let p = ParameterStore()
        let attn = Attention(p, "attn", dim: 8, heads: 2, perBlockGrid: (2, 2))
        p.allocate(); randomizeParams(p, &rng, scale: 0.5)
        let batch = 2, n = 5, rows = batch * n
        let x = Tensor(shape: [rows, 8]), y = Tensor(shape: [rows, 8]), w = Tensor(shape: [rows, 8]), dx = Tensor(shape: [rows, 8])
        let scratch = AttentionScratch()
        randomize(x, &rng); randomize(w, &rng)
        let targets = GradientCheck.targets(p) + [("x", x.data, dx.data, x.count)]
        let r = GradientCheck.run(targets: targets, loss: {
            attn.forward(p, x: x.data, batch: batch, tokens: n, sharedBias: nil, y: y.data, scratch: scratch, compute: .serial)
            return GradientCheck.dot(y.data, w.data, count: y.count)
        }, analytic: {
            p.zeroGrads(); attn.forward(p, x: x.data, batch: batch, tokens: n, sharedBias: nil, y: y.data, scratch: scratch, compute: .serial)
            attn.backward(p, dy: w.data, x: x.data, batch: batch, tokens: n, sharedBias: nil, sharedBiasGrad: nil, dx: dx.data, accumulate: false,
                          scratch: scratch, compute: .serial)
        })
        XCTAssertLessThan(r.maxError, tolerance, r.description)
    }

    /// The batched head products cut over threads and image groups: 3 threads over 5 images (1 + 2 + 2), one
    /// image per group, against the finite differences, and within float rounding of the serial pass.
    func testAttentionSplitOverThreadsAndGroups() {
        var rng = RNG(seed: 14)
        let p = ParameterStore()
        let attn = Attention(p, "attn", dim: 8, heads: 2, perBlockGrid: (2, 2))
        attn.groupBytes = 1
        p.allocate(); randomizeParams(p, &rng, scale: 0.5)
        let batch = 5, n = 5, rows = batch * n, compute = ComputeContext(threads: 3)
        let x = Tensor(shape: [rows, 8]), y = Tensor(shape: [rows, 8]), w = Tensor(shape: [rows, 8]), dx = Tensor(shape: [rows, 8])
        let scratch = AttentionScratch()
        randomize(x, &rng); randomize(w, &rng)
        let targets = GradientCheck.targets(p) + [("x", x.data, dx.data, x.count)]
        // eps 3e-3: at 1e-2 the central difference of the small q-bias gradient carries ~3 % truncation error.
        let r = GradientCheck.run(targets: targets, eps: 3e-3, loss: {
            attn.forward(p, x: x.data, batch: batch, tokens: n, sharedBias: nil, y: y.data, scratch: scratch, compute: compute)
            return GradientCheck.dot(y.data, w.data, count: y.count)
        }, analytic: {
            p.zeroGrads(); attn.forward(p, x: x.data, batch: batch, tokens: n, sharedBias: nil, y: y.data, scratch: scratch, compute: compute)
            attn.backward(p, dy: w.data, x: x.data, batch: batch, tokens: n, sharedBias: nil, sharedBiasGrad: nil, dx: dx.data, accumulate: false,
                          scratch: scratch, compute: compute)
        })
        XCTAssertLessThan(r.maxError, tolerance, r.description)
        func pass(_ compute: ComputeContext, groupBytes: Int) -> (y: [Float], dx: [Float], grads: [Float]) {
            attn.groupBytes = groupBytes
            p.zeroGrads(); attn.forward(p, x: x.data, batch: batch, tokens: n, sharedBias: nil, y: y.data, scratch: scratch, compute: compute)
            attn.backward(p, dy: w.data, x: x.data, batch: batch, tokens: n, sharedBias: nil, sharedBiasGrad: nil, dx: dx.data, accumulate: false,
                          scratch: scratch, compute: compute)
            return (y.array, dx.array, p.grads.array)
        }
        let split = pass(compute, groupBytes: 1), serial = pass(.serial, groupBytes: 1 << 20)
        for (name, a, b) in [("y", split.y, serial.y), ("dx", split.dx, serial.dx), ("grads", split.grads, serial.grads)] {
            for i in 0..<a.count { XCTAssertEqual(a[i], b[i], accuracy: 1e-5 * (1 + abs(b[i])), "\(name) at \(i)") }
        }
    }

    func testSoftmaxRowsSumToOneAndAreStable() {
        let s = Tensor(shape: [2, 3], values: [1000, 1001, 1002, -5, 0, 5])
        Attention.softmaxRows(s.data, rows: 2, cols: 3)
        XCTAssertEqual(s[0] + s[1] + s[2], 1, accuracy: 1e-6)
        XCTAssertEqual(s[2], 0.66524096, accuracy: 1e-6)
        XCTAssertFalse(s.array.contains { $0.isNaN })
    }

    /// Vectorized softmax (with a fused bias) and its backward against plain Double loops, on widths
    /// with SIMD16 bodies and tails.
    func testSoftmaxAndBackwardMatchScalarReference() {
        var rng = RNG(seed: 12)
        for cols in [16, 37, 50] {
            let rows = 3
            let s = Tensor(shape: [rows, cols]), bias = Tensor(shape: [rows, cols]), g = Tensor(shape: [rows, cols])
            randomize(s, &rng, scale: 3); randomize(bias, &rng); randomize(g, &rng)
            let x = s.array
            Attention.softmaxRows(s.data, rows: rows, cols: cols, adding: bias.data)
            var expectedGrad = [Double](repeating: 0, count: rows * cols)
            for i in 0..<rows {
                let z = (0..<cols).map { Double(x[i * cols + $0]) + Double(bias[i * cols + $0]) }
                let m = z.max()!, e = z.map { Foundation.exp($0 - m) }, sum = e.reduce(0, +)
                var dot = 0.0
                for j in 0..<cols {
                    XCTAssertEqual(Double(s[i * cols + j]), e[j] / sum, accuracy: 1e-6, "cols \(cols)")
                    dot += e[j] / sum * Double(g[i * cols + j])
                }
                for j in 0..<cols { expectedGrad[i * cols + j] = e[j] / sum * (Double(g[i * cols + j]) - dot) }
            }
            Attention.softmaxBackwardRows(probs: s.data, grad: g.data, rows: rows, cols: cols)
            for i in 0..<(rows * cols) { XCTAssertEqual(Double(g[i]), expectedGrad[i], accuracy: 1e-5) }
        }
    }

    func tinyConfig() -> ViTConfig {
        var c = ViTConfig()
        c.imgSize = 8; c.patchSize = 4; c.inChans = 2; c.embedDim = 8; c.depth = 2; c.numHeads = 2
        c.mlpRatio = 2; c.layerScaleInit = 0.5; c.dropPathRate = 0.3; c.initStd = 0.3
        return c
    }

    /// Whole encoder: images → patch embed → cls/pos → blocks → norm, for every position/bias option,
    /// with LayerScale on and off and stochastic depth active (masks replayed from a fixed generator).
    func testVisionTransformerEveryConfiguration() {
        var configs: [ViTConfig] = []
        for pos in PositionEmbedding.allCases {
            for rel in RelativePositionMode.allCases {
                var c = tinyConfig(); c.posEmbed = pos; c.relPosBias = rel
                configs.append(c)
            }
        }
        var noScale = tinyConfig(); noScale.layerScaleInit = 0; noScale.dropPathRate = 0
        configs.append(noScale)
        // Width 40: the SIMD16 bodies and scalar tails of every elementwise kernel.
        var wide = tinyConfig(); wide.embedDim = 40; wide.numHeads = 2
        configs.append(wide)
        for (ci, c) in configs.enumerated() {
            var rng = RNG(seed: 10 + UInt64(ci))
            let p = ParameterStore()
            let vit = VisionTransformer(config: c, params: p)
            p.allocate(); vit.initialize(rng: &rng)
            for i in 0..<p.count { p.values[i] += Float(rng.normal()) * 0.1 }
            let batch = 3
            let imgs = Tensor(shape: [batch, c.inChans, c.imgSize, c.imgSize]); randomize(imgs, &rng)
            let w = Tensor(shape: [batch * c.numTokens, c.embedDim]); randomize(w, &rng)
            var seedRNG = RNG(seed: 99)
            let dropRNGs = RNG.split(&seedRNG, count: batch)
            func forward() -> Tensor {
                var r = dropRNGs
                let tok = vit.embedPatches(imgs, batch: batch, compute: .serial)
                return vit.encode(tok.data, batch: batch, training: true, rngs: &r, compute: .serial)
            }
            let r = GradientCheck.run(targets: GradientCheck.targets(p), samples: 4, eps: 1e-2, floor: 0.1, loss: {
                let out = forward()
                return GradientCheck.dot(out.data, w.data, count: out.count)
            }, analytic: {
                p.zeroGrads()
                _ = forward()
                let dTok = vit.backwardEncode(w.data, compute: .serial)
                vit.backwardPatches(dTok.data, compute: .serial)
            })
            XCTAssertLessThan(r.maxError, tolerance, "pos \(c.posEmbed) rel \(c.relPosBias) ls \(c.layerScaleInit): \(r)")
        }
    }

    /// A token subset (MAE's visible tokens): every token in order gives the full encoder's bits; a
    /// random subset per image passes the finite-difference check, with zero gradient to the tokens it left out.
    func testEncoderOnATokenSubset() {
        for pos in [PositionEmbedding.learned, .sincos] {
            var c = tinyConfig(); c.imgSize = 12; c.relPosBias = .none; c.posEmbed = pos
            var rng = RNG(seed: 31)
            let p = ParameterStore()
            let vit = VisionTransformer(config: c, params: p)
            p.allocate(); vit.initialize(rng: &rng)
            for i in 0..<p.count { p.values[i] += Float(rng.normal()) * 0.1 }
            let batch = 2, k = c.numPatches, d = c.embedDim
            let imgs = Tensor(shape: [batch, c.inChans, c.imgSize, c.imgSize]); randomize(imgs, &rng)
            var r0: [RNG] = [], r1: [RNG] = []
            let full = vit.encode(vit.embedPatches(imgs, batch: batch, compute: .serial).data, batch: batch, training: false, rngs: &r0, compute: .serial).array
            let all = TokenSubset(count: k, indices: (0..<batch).flatMap { _ in (0..<k).map(Int32.init) })
            let same = vit.encode(vit.embedPatches(imgs, batch: batch, compute: .serial).data, batch: batch, subset: all, training: false, rngs: &r1, compute: .serial).array
            XCTAssertEqual(full, same, "pos \(pos): the whole subset in order is the full encoder")

            let keep = 4
            let subset = TokenSubset(count: keep, indices: [7, 0, 3, 8, 2, 5, 6, 1])
            let w = Tensor(shape: [batch * (1 + keep), d]); randomize(w, &rng)
            var seedRNG = RNG(seed: 99)
            let dropRNGs = RNG.split(&seedRNG, count: batch)
            func forward() -> Tensor {
                var r = dropRNGs
                return vit.encode(vit.embedPatches(imgs, batch: batch, compute: .serial).data, batch: batch, subset: subset, training: true, rngs: &r, compute: .serial)
            }
            var dTokens: [Float] = []
            // Smaller steps than the full-encoder check: the sin-cos rows (unit size) make the blocks more curved.
            let result = GradientCheck.run(targets: GradientCheck.targets(p), samples: 4, eps: 3e-3, floor: 0.1, loss: {
                let out = forward()
                XCTAssertEqual(out.shape, [batch * (1 + keep), d])
                return GradientCheck.dot(out.data, w.data, count: out.count)
            }, analytic: {
                p.zeroGrads()
                _ = forward()
                let dTok = vit.backwardEncode(w.data, compute: .serial)
                dTokens = dTok.array
                vit.backwardPatches(dTok.data, compute: .serial)
            })
            XCTAssertLessThan(result.maxError, tolerance, "pos \(pos): \(result)")
            for b in 0..<batch {
                let kept = Set(subset.indices[(b * keep)..<((b + 1) * keep)].map(Int.init))
                for t in 0..<k {
                    let row = dTokens[((b * k + t) * d)..<((b * k + t + 1) * d)]
                    XCTAssertEqual(row.contains { $0 != 0 }, kept.contains(t), "image \(b) token \(t)")
                }
            }
        }
    }

    func testRelativePositionIndexMatchesBEiT() {
        // 2×2 grid: 9 relative offsets + 3 cls rows = 12 rows; index values as BEiT computes them.
        let idx = RelativePositionBias.makeIndex(gridHeight: 2, gridWidth: 2)
        XCTAssertEqual(idx.count, 25)
        XCTAssertEqual(idx[0], 11)                        // cls→cls
        XCTAssertEqual(Array(idx[1..<5]), [9, 9, 9, 9])   // cls→tokens
        XCTAssertEqual(idx[5], 10)                        // token→cls
        // token (0,0) to tokens (0,0),(0,1),(1,0),(1,1): offsets (1+0)*3+(1+0)=4, 3, 1, 0
        XCTAssertEqual(Array(idx[6..<10]), [4, 3, 1, 0])
        XCTAssertEqual(Array(idx[21..<25]), [8, 7, 5, 4]) // token (1,1)
    }

    func testParameterNamesFollowTimmBEiT() {
        var c = tinyConfig(); c.posEmbed = .learned
        let p = ParameterStore()
        _ = VisionTransformer(config: c, params: p)
        let names = Set(p.entries.map(\.name))
        for n in ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
                  "rel_pos_bias.relative_position_bias_table", "blocks.1.gamma_1", "blocks.1.gamma_2",
                  "blocks.0.norm1.weight", "blocks.0.attn.qkv.weight", "blocks.0.attn.q_bias", "blocks.0.attn.v_bias",
                  "blocks.0.attn.proj.weight", "blocks.0.mlp.fc1.weight", "blocks.0.mlp.fc2.bias", "norm.weight"] {
            XCTAssert(names.contains(n), "missing \(n)")
        }
        XCTAssertEqual(p.entry("patch_embed.proj.weight")?.shape, [8, 2, 4, 4])
        XCTAssertEqual(p.entry("blocks.0.attn.qkv.weight")?.shape, [24, 8])
        XCTAssertEqual(p.entry("rel_pos_bias.relative_position_bias_table")?.shape, [12, 2])
        XCTAssertEqual(p.entry("blocks.0.attn.qkv.weight")?.decay, true)
        for n in ["cls_token", "pos_embed", "blocks.0.attn.q_bias", "blocks.0.gamma_1", "rel_pos_bias.relative_position_bias_table"] {
            XCTAssertEqual(p.entry(n)?.decay, false, n)
        }
    }

    func testSinCosTableAndPatchRoundTrip() {
        let t = VisionTransformer.sincos(dim: 8, grid: 3)
        XCTAssertEqual(Array(t.array[0..<8]), [Float](repeating: 0, count: 8))   // cls row
        // token (row 1, col 2): first half encodes column 2, ω_0 = 1 → sin(2), cos(2)
        let row = 1 + 1 * 3 + 2
        XCTAssertEqual(t[row * 8 + 0], Float(sin(2.0)), accuracy: 1e-6)
        XCTAssertEqual(t[row * 8 + 2], Float(cos(2.0)), accuracy: 1e-6)
        XCTAssertEqual(t[row * 8 + 4], Float(sin(1.0)), accuracy: 1e-6)
        var rng = RNG(seed: 5)
        let img = Tensor(shape: [2, 3, 8, 8]); randomize(img, &rng)
        let patches = Tensor(shape: [2, 4, 48]), back = Tensor(shape: [2, 3, 8, 8])
        Patches.patchify(img.data, batch: 2, channels: 3, height: 8, width: 8, patch: 4, into: patches.data, compute: .serial)
        // patch 1 (top right), channel 2, row 3, col 1 = image[0, 2, 3, 5]
        XCTAssertEqual(patches[1 * 48 + (2 * 4 + 3) * 4 + 1], img[(2 * 8 + 3) * 8 + 5])
        Patches.unpatchify(patches.data, batch: 2, channels: 3, height: 8, width: 8, patch: 4, into: back.data)
        XCTAssertEqual(back.array, img.array)
    }

    func testConfigValidationErrors() {
        var c = ViTConfig(); c.imgSize = 30; c.patchSize = 4
        XCTAssertThrowsError(try c.validate()) { e in XCTAssert("\(e)".contains("not divisible by model.patch_size 4"), "\(e)") }
        c = ViTConfig(); c.numHeads = 5
        XCTAssertThrowsError(try c.validate())
        XCTAssertNoThrow(try ViTConfig().validate())
    }

    /// resizeTable against torch's bicubic interpolate (align_corners=False), the way timm resizes
    /// BEiT tables; values from scripts/parity/resize_reference.py (2 heads, grid 2×3 → 3×4).
    func testRelativeTableResizeMatchesTorchBicubic() {
        let input: [Float] = [-2.3104118, -0.373250861, -1.06081668, 0.999509355, -0.884025005, -1.27554693, -0.62322458, -0.866441602, -1.29562714, 1.52363162, 0.323660566, 2.01772603, 1.13574234, -1.22688134, 0.0713884712, 0.338017403, 0.153518835, -0.633274609, -1.26092466, -0.726951062, -1.26546531, -1.11953518, 1.16648572, 0.926232457, 0.797010017, 0.211664181, 0.135571143, -0.0338929187, -0.309914974, 0.240180234, -1.34876103, 0.244399093, -0.0137207015, -0.199608228, -1.65642469, 0.913898251]
        let expected: [Float] = [-2.6649536, -0.745737245, -1.84499183, 0.728301025, -1.06454846, 0.690568098, -0.975744698, -1.43044911, -0.692462066, -1.43471936, -0.921003889, 0.271536889, -1.34628073, 1.94659676, -1.2497958, 0.843279978, -0.577905835, 0.38155477, -0.209787503, -0.262825222, -0.565569327, -0.640386537, -0.288100504, -0.952176737, -0.727293354, -0.250175079, -1.43172024, 0.690968328, 0.259735762, 2.27313244, 0.90652066, -0.0289597453, 0.940107022, -1.12624011, 0.0713884712, 0.338017403, 0.239943106, -0.298323369, -0.43167991, -0.774545518, -1.37226569, -0.73432501, -0.598713478, 0.296585055, 0.645259853, 0.0261447538, 1.33110588, 0.0385892569, 0.584258627, 0.376865863, 0.364045061, -0.0596495235, -0.209323314, -0.335341374, -0.745275353, -0.300843295, -1.62169888, -1.62172794, 0.114934478, 0.158813631, 1.40448538, 1.17353633, 0.866669685, 0.199534272, 0.352496326, -0.00458803676, -0.0910401999, 0.135071598, -0.246363198, 0.357378139, -1.34876103, 0.244399093, -0.0137207015, -0.199608228, -1.65642469, 0.913898251]
        let out = RelativePositionBias.resizeTable(input, heads: 2, from: (2, 3), to: (3, 4))
        XCTAssertEqual(out.count, expected.count)
        for i in 0..<expected.count { XCTAssertEqual(out[i], expected[i], accuracy: 1e-5, "row \(i / 2) head \(i % 2)") }
    }
}
