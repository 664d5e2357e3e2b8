import XCTest
import ROPIMKernels
import ROPIMNN
@testable import ROPIMCore

final class PretrainModelTests: XCTestCase {
    func tinyViT() -> ViTConfig {
        var c = ViTConfig()
        c.imgSize = 8; c.patchSize = 2; c.inChans = 1; c.embedDim = 8; c.depth = 2; c.numHeads = 2
        c.mlpRatio = 2; c.layerScaleInit = 0.5; c.dropPathRate = 0.2; c.initStd = 0.3
        return c
    }

    func method(_ kind: ObjectiveName, _ loss: LossKind = .mse, referenceScale: Double = 0) -> MethodConfig {
        var m = MethodConfig()
        m.corruption = kind; m.loss = loss; m.sketchSize = 4; m.maskPatchSize = 4; m.referenceScale = referenceScale
        return m
    }

    func makeModel(_ m: MethodConfig, vit: ViTConfig? = nil, seed: UInt64 = 1) throws -> (any PretrainingObjective, Tensor) {
        let v = vit ?? tinyViT()
        let model = try Objectives.make(vit: v, method: m)
        var rng = RNG(seed: seed)
        model.initialize(rng: &rng)
        for i in 0..<model.params.count { model.params.values[i] += Float(rng.normal()) * 0.05 }
        let images = Tensor(shape: [3, v.inChans, v.imgSize, v.imgSize])
        for i in 0..<images.count { images[i] = Float(rng.normal()) }
        return (model, images)
    }

    /// Whole model, every corruption and both losses: finite differences against backward.
    func testGradientsOfEveryCorruptionAndLoss() throws {
        let cases: [MethodConfig] = [method(.rop), method(.rop, .l1), method(.rop, referenceScale: 0.14),
                                     method(.complementInput), method(.mask), method(.mask, .l1), method(.none)]
        for m in cases {
            let (model, images) = try makeModel(m)
            // L1 has kinks: smaller steps, and coordinates with a kink within ±eps are not judged (few may be).
            let l1 = m.loss == .l1
            let r = ObjectiveChecks.gradients(model, images: images, batch: 3, eps: l1 ? 1e-3 : 4e-3, kinkTolerance: l1 ? 5e-3 : nil)
            XCTAssertLessThan(r.maxError, l1 ? 2e-2 : 5e-3, "\(m.corruption) \(m.loss) scale \(m.referenceScale): \(r)")
            XCTAssertLessThanOrEqual(r.kinks * 10, r.checked + r.kinks, "most coordinates are judged: \(r)")
        }
    }

    func testEveryParameterReceivesANonZeroGradient() throws {
        for kind in [ObjectiveName.rop, .mask, .none, .complementInput] {
            var v = tinyViT(); v.posEmbed = .learned
            let (model, images) = try makeModel(method(kind, .l1), vit: v)
            ObjectiveChecks.assertEveryParameterTrains(model, images: images, batch: 3, "\(kind)")
        }
    }

    /// The encoder sees Π·X (rop) and the loss is mean |Π⊥(Y − Ŷ)|, checked with dense matrices.
    func testROPInputAndLossMatchDenseProjectors() throws {
        for (kind, scale) in [(ObjectiveName.rop, 0.0), (.rop, 0.14), (.complementInput, 0.0)] {
            let (model, images) = try makeModel(method(kind, .l1, referenceScale: scale))
            var rng = RNG(seed: 5)
            let loss = model.forward(images: images, batch: 3, training: false, rng: &rng, compute: .serial)
            let v = model.vit, k = v.numPatches, d = v.embedDim, pd = v.patchDim
            let tokens = model.encoder.tokens, target = model.encoder.patches
            var expectedLoss = 0.0
            for b in 0..<3 {
                let proj = model.sketches[b].denseProjector(scale: model.method.projectorScale)
                let inputOp = kind == .rop ? proj : complement(proj, k)
                let lossOp = kind == .rop ? complement(proj, k) : proj
                for i in 0..<k {
                    for j in 0..<d {
                        var s = 0.0
                        for t in 0..<k { s += Double(inputOp[i * k + t]) * Double(tokens[(b * k + t) * d + j]) }
                        XCTAssertEqual(Double(model.corrupted[(b * k + i) * d + j]), s, accuracy: 1e-4)
                    }
                    for j in 0..<pd {
                        var s = 0.0
                        for t in 0..<k {
                            let r = Double(target[(b * k + t) * pd + j]) - Double(model.prediction[(b * k + t) * pd + j])
                            s += Double(lossOp[i * k + t]) * r
                        }
                        expectedLoss += abs(s)
                    }
                }
            }
            XCTAssertEqual(loss, expectedLoss / Double(3 * k * pd), accuracy: 1e-5, "\(kind)")
        }
    }

    /// The vectorized, threaded loss kernel against a scalar loop: 37 columns (two vectors and a
    /// tail), exact zeros in E (L1's gradient is 0 there), 1 and 3 threads.
    func testLossKernelMatchesScalarLoop() {
        var rng = RNG(seed: 9)
        let rows = 50, cols = 37, scale: Float = 0.01
        let e = Tensor(shape: [rows, cols])
        for i in 0..<e.count { e[i] = i % 11 == 0 ? 0 : Float(rng.normal()) }
        for l1 in [true, false] {
            var expected = 0.0
            for i in 0..<e.count { expected += l1 ? Double(abs(e[i])) : Double(e[i]) * Double(e[i]) }
            for threads in [1, 3] {
                let g = Tensor(shape: [rows, cols])
                let sum = ReconstructionLoss.lossAndGradient(e.data, rows: rows, cols: cols, l1: l1, scale: scale, into: g.data,
                                                             compute: ComputeContext(threads: threads))
                XCTAssertEqual(sum, expected, accuracy: 1e-9 * Double(e.count) + 1e-6 * expected)
                for i in 0..<e.count {
                    let want = l1 ? (e[i] > 0 ? -scale : (e[i] < 0 ? scale : 0)) : -2 * e[i] * scale
                    XCTAssertEqual(g[i], want, accuracy: 1e-7, "l1 \(l1), element \(i)")
                }
            }
        }
    }

    func complement(_ p: [Float], _ k: Int) -> [Float] {
        (0..<(k * k)).map { (($0 / k) == ($0 % k) ? 1 : 0) - p[$0] }
    }

    /// SimMIM: masked tokens are the mask token; the loss is the mean over masked patches only.
    func testMaskCorruptionAndLoss() throws {
        let (model, images) = try makeModel(method(.mask, .l1))
        var rng = RNG(seed: 6)
        let loss = model.forward(images: images, batch: 3, training: false, rng: &rng, compute: .serial)
        let v = model.vit, k = v.numPatches, d = v.embedDim, pd = v.patchDim
        let mt = model.params.value(model.maskToken!)
        var sum = 0.0, masked = 0
        for b in 0..<3 {
            let m = model.masks[b]
            // 8 px image, mask patch 4 → 2×2 coarse grid, ⌈0.6·4⌉ = 3 hidden, each 2×2 tokens.
            XCTAssertEqual(m.reduce(0, +), 12)
            for t in 0..<k {
                let row = model.corrupted.data + (b * k + t) * d
                if m[t] > 0 {
                    masked += 1
                    for j in 0..<d { XCTAssertEqual(row[j], mt[j]) }
                    for j in 0..<pd {
                        sum += abs(Double(model.encoder.patches[(b * k + t) * pd + j]) - Double(model.prediction[(b * k + t) * pd + j]))
                    }
                } else {
                    for j in 0..<d { XCTAssertEqual(row[j], model.encoder.tokens[(b * k + t) * d + j]) }
                }
            }
        }
        XCTAssertEqual(loss, sum / Double(masked * pd), accuracy: 1e-5)
    }

    func testSimMIMMaskBlocksAreAligned() {
        var rng = RNG(seed: 8)
        let m = simMIMMask(imgSize: 32, patchSize: 4, maskPatchSize: 16, ratio: 0.6, rng: &rng)
        XCTAssertEqual(m.count, 64)
        XCTAssertEqual(m.reduce(0, +), 48)    // ⌈0.6·4⌉ = 3 of 4 blocks of 16 tokens
        for y in 0..<8 { for x in 0..<8 { XCTAssertEqual(m[y * 8 + x], m[(y / 4 * 4) * 8 + x / 4 * 4]) } }
    }

    func testBadSettingsGiveClearErrors() {
        var m = MethodConfig(); m.sketchSize = 8
        XCTAssertThrowsError(try Objectives.make(vit: ViTConfig(), method: m)) { e in
            XCTAssert("\(e)".contains("does not divide the token count K=49"), "\(e)")
            XCTAssert("\(e)".contains("1, 7, 49"), "\(e)")
        }
        m.sampler = .iid
        XCTAssertNoThrow(try Objectives.make(vit: ViTConfig(), method: m))
        var v = ViTConfig(); v.imgSize = 30
        XCTAssertThrowsError(try Objectives.make(vit: v, method: MethodConfig())) { e in
            XCTAssert("\(e)".contains("img_size 30 is not divisible"), "\(e)")
        }
        m = MethodConfig(); m.corruption = .mask; m.maskPatchSize = 6
        XCTAssertThrowsError(try Objectives.make(vit: ViTConfig(), method: m))
    }
}

/// The per-image draws of the built-in objectives, for tests that check them against dense forms.
private extension PretrainingObjective {
    var sketches: [CountSketch] { (self as? ReconstructionModel<ROPIM>)?.corruption.sketches ?? [] }
    var masks: [[Float]] { (self as? ReconstructionModel<SimMIM>)?.corruption.masks ?? [] }
    var maskToken: ParamRef? { (self as? ReconstructionModel<SimMIM>)?.corruption.maskToken }
    var corrupted: Tensor {
        (self as? ReconstructionModel<ROPIM>)?.corrupted ?? (self as? ReconstructionModel<SimMIM>)?.corrupted ?? Tensor(shape: [0])
    }
}

/// Per-image draws: image b's corruption comes from its own generator alone, so it is the same in any
/// batch (the property data-parallel runs rely on: an image's draws do not depend on N ranks).
final class PerImageDrawTests: XCTestCase {
    func testAnImagesCorruptionDoesNotDependOnItsBatch() throws {
        var v = ViTConfig()
        v.imgSize = 8; v.patchSize = 2; v.inChans = 1; v.embedDim = 8; v.depth = 1; v.numHeads = 2; v.mlpRatio = 2
        for kind in [ObjectiveName.rop, .mask, .mae] {
            var m = MethodConfig()
            m.corruption = kind; m.sketchSize = 4; m.maskPatchSize = 2; m.decoderEmbedDim = 8; m.decoderDepth = 1; m.decoderNumHeads = 2
            if kind == .mae { v.relPosBias = .none }
            let model = try Objectives.make(vit: v, method: m)
            var rng = RNG(seed: 1)
            model.initialize(rng: &rng)
            let images = Tensor(shape: [3, 1, 8, 8])
            for i in 0..<images.count { images[i] = Float(rng.normal()) }
            let gens = (0..<3).map { RNG.image(seed: 9, epoch: 2, index: 100 + $0) }
            var all = gens
            _ = model.forward(images: images, batch: 3, training: true, rngs: &all, compute: .serial)
            let probe = (0..<v.numPatches * v.patchDim).map { Float($0 % 7) - 3 }
            let inBatch = model.views(image: 2).loss.apply(probe, cols: v.patchDim)
            let alone = Tensor(shape: [1, 1, 8, 8])
            alone.data.update(from: images.data + 2 * 64, count: 64)
            var one = [gens[2]]
            _ = model.forward(images: alone, batch: 1, training: true, rngs: &one, compute: .serial)
            XCTAssertEqual(model.views(image: 0).loss.apply(probe, cols: v.patchDim), inBatch, "\(kind)")
            XCTAssertEqual(one[0], all[2], "\(kind): the image's generator advanced the same way")
            var other = (0..<3).map { RNG.image(seed: 9, epoch: 3, index: 100 + $0) }
            _ = model.forward(images: images, batch: 3, training: true, rngs: &other, compute: .serial)
            XCTAssertNotEqual(model.views(image: 2).loss.apply(probe, cols: v.patchDim), inBatch, "\(kind): another epoch, another draw")
        }
    }
}
