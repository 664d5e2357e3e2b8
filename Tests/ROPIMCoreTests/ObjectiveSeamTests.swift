// The objective seam: a method written in one file on `PretrainingObjective` and registered with one
// line trains like a built-in one. Here `none` is rewritten from scratch on the protocol (encoder + linear
// decoder + loss on every patch) and must equal the built-in `none` bit for bit.

import XCTest
import ROPIMKernels
import ROPIMNN
@testable import ROPIMCore

/// `none` on the bare protocol: patch embedding → encoder → 1×1 decoder → L1/MSE on every patch.
final class TestAutoencoder: PretrainingObjective {
    let vit: ViTConfig, method: MethodConfig
    let params = ParameterStore()
    let encoder: VisionTransformer
    let decoder: Linear
    let prediction = Tensor(shape: [0])
    private let patchOut = Tensor(shape: [0]), dPrediction = Tensor(shape: [0]), dPatchOut = Tensor(shape: [0]), dOut = Tensor(shape: [0])
    private var batch = 0

    init(vit: ViTConfig, method: MethodConfig) {
        self.vit = vit; self.method = method
        encoder = VisionTransformer(config: vit, params: params, prefix: "encoder.")
        decoder = Linear(params, "decoder.0", inFeatures: vit.embedDim, outFeatures: vit.patchDim)
        params.allocate()
    }

    func initialize(rng: inout RNG) {
        encoder.initialize(rng: &rng)
        let bound = 1 / Double(vit.embedDim).squareRoot()
        params.fill(decoder.weight) { _ in Float(rng.uniform(-bound, bound)) }
        params.fill(decoder.bias!) { _ in Float(rng.uniform(-bound, bound)) }
    }

    func forward(images: Tensor, batch: Int, training: Bool, rngs: inout [RNG], compute: ComputeContext) -> Double {
        self.batch = batch
        let k = vit.numPatches, d = vit.embedDim, n = vit.numTokens, pd = vit.patchDim, rows = batch * k
        let tokens = encoder.embedPatches(images, batch: batch, compute: compute)
        let out = encoder.encode(tokens.data, batch: batch, training: training, rngs: &rngs, compute: compute)
        patchOut.resize([rows, d])
        for b in 0..<batch { (patchOut.data + b * k * d).update(from: out.data + (b * n + 1) * d, count: k * d) }
        prediction.resize([rows, pd]); dPrediction.resize([rows, pd])
        decoder.forward(params, x: patchOut.data, rows: rows, y: prediction.data, compute: compute)
        let e = Tensor(shape: [rows, pd])
        for i in 0..<e.count { e[i] = encoder.patches[i] - prediction[i] }
        let count = Double(rows * pd)
        return ReconstructionLoss.lossAndGradient(e.data, rows: rows, cols: pd, l1: method.loss == .l1, scale: Float(1 / count),
                                                  into: dPrediction.data, compute: compute) / count
    }

    func backward(lossScale: Float, compute: ComputeContext) {
        let k = vit.numPatches, d = vit.embedDim, n = vit.numTokens
        for i in 0..<dPrediction.count { dPrediction[i] *= lossScale }
        dPatchOut.resize([batch * k, d]); dOut.resize([batch * n, d]); dOut.zero()
        decoder.backward(params, dy: dPrediction.data, x: patchOut.data, rows: batch * k, dx: dPatchOut.data, compute: compute)
        for b in 0..<batch { (dOut.data + (b * n + 1) * d).update(from: dPatchOut.data + b * k * d, count: k * d) }
        encoder.backwardPatches(encoder.backwardEncode(dOut.data, compute: compute).data, compute: compute)
    }

    func views(image b: Int) -> ObjectiveViews {
        ObjectiveViews(kept: .identity, loss: .identity, fill: .rows([Bool](repeating: false, count: vit.numPatches)))
    }
    var pictureTitles: [String] { ["x", "x", "y^", "x", "|x-y^|"] }
}

final class ObjectiveSeamTests: XCTestCase {
    override func setUp() {
        // The one registration line.
        Objectives.registry["test-autoencoder"] = Objectives.Entry(validate: { _, _, _ in }, make: { v, m in TestAutoencoder(vit: v, method: m) })
    }

    func tinyViT() -> ViTConfig {
        var c = ViTConfig()
        c.imgSize = 8; c.patchSize = 2; c.inChans = 1; c.embedDim = 8; c.depth = 2; c.numHeads = 2
        c.mlpRatio = 2; c.layerScaleInit = 0.5; c.dropPathRate = 0.2; c.initStd = 0.3
        return c
    }

    func testARegisteredObjectiveEqualsTheBuiltInOneBitForBit() throws {
        var mine = MethodConfig(); mine.corruption = "test-autoencoder"; mine.loss = .mse
        var builtIn = mine; builtIn.corruption = .none
        XCTAssertTrue(Objectives.names.contains("test-autoencoder"))
        let a = try Objectives.make(vit: tinyViT(), method: mine), b = try Objectives.make(vit: tinyViT(), method: builtIn)
        XCTAssertTrue(a is TestAutoencoder)
        XCTAssertEqual(a.params.entries.map(\.name), b.params.entries.map(\.name))
        var ra = RNG(seed: 4), rb = RNG(seed: 4)
        a.initialize(rng: &ra); b.initialize(rng: &rb)
        let images = Tensor(shape: [3, 1, 8, 8])
        for i in 0..<images.count { images[i] = Float(ra.normal()) }
        for step in 0..<2 {
            var sa = RNG(seed: UInt64(step)), sb = RNG(seed: UInt64(step))
            a.params.zeroGrads(); b.params.zeroGrads()
            XCTAssertEqual(a.forward(images: images, batch: 3, training: true, rng: &sa, compute: .serial),
                           b.forward(images: images, batch: 3, training: true, rng: &sb, compute: .serial))
            a.backward(lossScale: 0.5, compute: .serial); b.backward(lossScale: 0.5, compute: .serial)
            XCTAssertEqual(a.params.grads.array, b.params.grads.array, "step \(step)")
        }
    }

    func testUnknownObjectiveIsAClearError() {
        var m = MethodConfig(); m.corruption = "maes"
        XCTAssertThrowsError(try Objectives.make(vit: tinyViT(), method: m)) {
            XCTAssertTrue("\($0)".contains("method.corruption 'maes'") && "\($0)".contains("rop"), "\($0)")
        }
    }

    /// Each key is checked by its owner; a huge token count answers at once (divisors up to √K).
    func testEachMethodKeyIsValidatedByItsOwner() {
        var m = MethodConfig(); m.corruption = .mask; m.maskPatchSize = 0
        XCTAssertThrowsError(try Objectives.make(vit: ViTConfig(), method: m)) { XCTAssertTrue("\($0)".contains("method.mask_patch_size 0"), "\($0)") }
        m.maskPatchSize = -4
        XCTAssertThrowsError(try Objectives.make(vit: ViTConfig(), method: m)) { XCTAssertTrue("\($0)".contains("method.mask_patch_size -4"), "\($0)") }
        m = MethodConfig(); m.referenceScale = .nan
        XCTAssertThrowsError(try m.validate(for: ViTConfig())) { XCTAssertTrue("\($0)".contains("method.reference_scale"), "\($0)") }
        m = MethodConfig(); m.corruption = .mask; m.maskRatio = .nan
        XCTAssertThrowsError(try m.validate(for: ViTConfig())) { XCTAssertTrue("\($0)".contains("method.mask_ratio"), "\($0)") }
        XCTAssertEqual(SketchError.divisors(of: 49), "1, 7, 49")
        XCTAssertTrue(SketchError.divisors(of: 1_000_000_000_000).hasSuffix(", …"))
    }
}
