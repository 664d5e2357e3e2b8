// MAE on a tiny config: finite differences against backward, every parameter trained, the masking as
// MAE's argsort of the noise, and its keys' validation.

import XCTest
import ROPIMFiles
import ROPIMKernels
import ROPIMNN
@testable import ROPIMCore

final class MAETests: XCTestCase {
    static func tinyViT() -> ViTConfig {
        var c = ViTConfig()
        c.imgSize = 8; c.patchSize = 2; c.inChans = 1; c.embedDim = 8; c.depth = 2; c.numHeads = 2
        c.mlpRatio = 2; c.layerScaleInit = 0.5; c.dropPathRate = 0.2; c.initStd = 0.3
        c.relPosBias = .none; c.posEmbed = .learned
        return c
    }

    static func tinyMethod(normPix: Bool = false) -> MethodConfig {
        var m = MethodConfig()
        m.corruption = .mae; m.decoderEmbedDim = 8; m.decoderDepth = 2; m.decoderNumHeads = 2; m.normPixLoss = normPix
        return m
    }

    /// A model with perturbed weights (so no gradient is zero by symmetry), images, and injected noise.
    func makeModel(normPix: Bool = false, batch: Int = 3) throws -> (MAE, Tensor) {
        let v = MAETests.tinyViT()
        let model = try XCTUnwrap(try Objectives.make(vit: v, method: MAETests.tinyMethod(normPix: normPix)) as? MAE)
        var rng = RNG(seed: 1)
        model.initialize(rng: &rng)
        for i in 0..<model.params.count { model.params.values[i] += Float(rng.normal()) * 0.05 }
        let images = Tensor(shape: [batch, v.inChans, v.imgSize, v.imgSize])
        for i in 0..<images.count { images[i] = Float(rng.normal()) }
        model.injectedNoise = (0..<batch * v.numPatches).map { _ in Float(rng.uniform()) }
        return (model, images)
    }

    func testGradientsMatchFiniteDifferences() throws {
        for normPix in [false, true] {
            let (model, images) = try makeModel(normPix: normPix)
            let r = ObjectiveChecks.gradients(model, images: images, batch: 3, eps: 1e-2)
            XCTAssertLessThan(r.maxError, 5e-3, "norm_pix_loss \(normPix): \(r)")
        }
    }

    func testEveryParameterReceivesANonZeroGradient() throws {
        let (model, images) = try makeModel()
        ObjectiveChecks.assertEveryParameterTrains(model, images: images, batch: 3, "mae")
    }

    /// MAE's names: the encoder under `encoder.`, the decoder under its own top-level names.
    func testParameterNamesFollowMAE() throws {
        let (model, _) = try makeModel()
        let own = model.params.entries.map(\.name).filter { !$0.hasPrefix("encoder.") }
        XCTAssertEqual(own.first, "decoder_embed.weight")
        XCTAssertTrue(own.contains("mask_token") && own.contains("decoder_blocks.1.attn.qkv.weight") && own.contains("decoder_norm.weight"))
        XCTAssertEqual(own.last, "decoder_pred.bias")
        XCTAssertFalse(model.params.entries.contains { $0.name.contains("mask_token") && $0.name.hasPrefix("encoder.") })
    }

    /// len_keep = int(K·(1 − ratio)) tokens per image, the first of argsort(noise), in that order.
    func testMaskingKeepsTheArgsortOfTheNoise() throws {
        let (model, images) = try makeModel()
        let k = model.vit.numPatches, noise = try XCTUnwrap(model.injectedNoise)
        XCTAssertEqual(model.keep, 4)   // int(16 · 0.25)
        var rng = RNG(seed: 0)
        _ = model.forward(images: images, batch: 3, training: false, rng: &rng, compute: .serial)
        let subset = try XCTUnwrap(model.encoder.subset)
        XCTAssertEqual(subset.count, 4)
        XCTAssertEqual(model.encoder.output.shape, [3 * 5, model.vit.embedDim])
        for b in 0..<3 {
            let argsort = (0..<k).sorted { noise[b * k + $0] < noise[b * k + $1] }
            XCTAssertEqual(subset.indices[(b * 4)..<(b * 4 + 4)].map(Int.init), Array(argsort.prefix(4)))
            for t in 0..<k { XCTAssertEqual(Int(model.idsShuffle[b * k + Int(model.idsRestore[b * k + t])]), t) }
            let views = model.views(image: b)
            XCTAssertEqual(views.hidden?.filter { !$0 }.count, 4)
            XCTAssertEqual(views.hidden.map { h in argsort.prefix(4).allSatisfy { !h[$0] } }, true)
        }
    }

    /// MAE.shuffle is argsort with ties broken by the token index (the analysis draws its maskings with it).
    func testShuffleIsArgsortWithTiesByIndex() {
        XCTAssertEqual(MAE.shuffle([0.3, 0.1, 0.2, 0.1]), [1, 3, 2, 0])
        XCTAssertEqual(MAE.shuffle([0.9, 0.5, 0.7, 0.1, 0.5][1...]), [2, 0, 3, 1])   // a slice counts from its start
    }

    /// norm_pix_loss: the picture's prediction is Ŷ un-normalized with each target patch's mean and
    /// √(var + 1e-6), so the loss is recovered from the pictured error divided by each patch's std; without
    /// norm_pix_loss the picture shows Ŷ unchanged.
    func testPicturePredictionUndoesTheNormPixTargets() throws {
        let (plain, images) = try makeModel()
        var rng = RNG(seed: 0)
        _ = plain.forward(images: images, batch: 3, training: false, rng: &rng, compute: .serial)
        XCTAssertEqual(plain.picturePrediction, plain.prediction.array)

        let (model, _) = try makeModel(normPix: true)
        let loss = model.forward(images: images, batch: 3, training: false, rng: &rng, compute: .serial)
        let y = model.encoder.patches.array, pd = model.vit.patchDim, k = model.vit.numPatches
        let pictured = model.picturePrediction, yHat = model.prediction.array
        var sum = 0.0, rows = 0
        for r in 0..<(3 * k) {
            let t = Array(y[(r * pd)..<((r + 1) * pd)])
            let mean = t.reduce(0.0) { $0 + Double($1) } / Double(pd)
            let std = (t.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(pd - 1) + 1e-6).squareRoot()
            for j in 0..<pd {
                XCTAssertEqual(Double(pictured[r * pd + j]), Double(yHat[r * pd + j]) * std + mean, accuracy: 1e-5)
            }
            guard model.idsRestore[r] >= model.keep else { continue }   // the loss looks at hidden patches only
            rows += 1
            for j in 0..<pd { sum += pow((Double(t[j]) - Double(pictured[r * pd + j])) / std, 2) }
        }
        XCTAssertEqual(rows, 3 * (k - model.keep))
        XCTAssertEqual(sum / Double(rows * pd), loss, accuracy: 1e-5 * loss)
        XCTAssertNotEqual(pictured, yHat)
    }

    /// Without injected noise the masking is drawn from the rng: same seed, same loss; other seed, other mask.
    func testMaskingFromTheRNGIsReproducible() throws {
        let (model, images) = try makeModel()
        model.injectedNoise = nil
        var a = RNG(seed: 9), b = RNG(seed: 9), c = RNG(seed: 10)
        let la = model.forward(images: images, batch: 3, training: false, rng: &a, compute: .serial)
        let restoreA = model.idsRestore
        XCTAssertEqual(la, model.forward(images: images, batch: 3, training: false, rng: &b, compute: .serial))
        _ = model.forward(images: images, batch: 3, training: false, rng: &c, compute: .serial)
        XCTAssertNotEqual(restoreA, model.idsRestore)
    }

    func testKeysAreValidatedWithTheFix() {
        var v = MAETests.tinyViT()
        v.relPosBias = .shared
        XCTAssertThrowsError(try Objectives.make(vit: v, method: MAETests.tinyMethod())) {
            XCTAssertTrue("\($0)".contains("model.rel_pos_bias none"), "\($0)")
        }
        var m = MAETests.tinyMethod(); m.maeMaskRatio = 1
        XCTAssertThrowsError(try Objectives.make(vit: MAETests.tinyViT(), method: m)) { XCTAssertTrue("\($0)".contains("method.mae_mask_ratio"), "\($0)") }
        m = MAETests.tinyMethod(); m.decoderNumHeads = 3
        XCTAssertThrowsError(try Objectives.make(vit: MAETests.tinyViT(), method: m)) { XCTAssertTrue("\($0)".contains("method.decoder_num_heads 3"), "\($0)") }
        m = MAETests.tinyMethod(); m.maeMaskRatio = 0.99
        XCTAssertThrowsError(try Objectives.make(vit: MAETests.tinyViT(), method: m)) { XCTAssertTrue("\($0)".contains("keeps 0 of 16"), "\($0)") }
        // Range checks apply whichever objective is selected.
        m = MethodConfig(); m.decoderDepth = 0
        XCTAssertThrowsError(try m.validate(for: ViTConfig())) { XCTAssertTrue("\($0)".contains("method.decoder_depth"), "\($0)") }
    }
}

/// Against scripts/parity/make_mae_fixture.py (MAE's models_mae.py code path in torch, double precision):
/// the same weights, images and noise give the same loss and every gradient within 1e-5 of its tensor's max.
final class MAEParityTests: XCTestCase {
    func testLossAndEveryGradientMatchTheTorchReference() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/mae_tiny.safetensors").path
        let tensors = Dictionary(uniqueKeysWithValues: try SafeTensors.read(path).tensors.map { ($0.name, $0) })
        var v = ViTConfig()
        v.imgSize = 8; v.patchSize = 2; v.inChans = 3; v.embedDim = 16; v.depth = 2; v.numHeads = 2; v.mlpRatio = 2
        v.layerScaleInit = 0; v.dropPathRate = 0; v.posEmbed = .sincos; v.relPosBias = .none
        for normPix in [false, true] {
            var m = MAETests.tinyMethod(normPix: normPix)
            m.maeMaskRatio = 0.75
            let model = try XCTUnwrap(try Objectives.make(vit: v, method: m) as? MAE)
            for e in model.params.entries {
                let t = try XCTUnwrap(tensors["param." + e.name], "fixture lacks \(e.name)")
                XCTAssertEqual(t.shape, e.shape, e.name)
                model.params.value(e.ref).update(from: t.values, count: e.ref.count)
            }
            let imgs = try XCTUnwrap(tensors["images"])
            model.injectedNoise = try XCTUnwrap(tensors["noise"]).values
            var rng = RNG(seed: 0)
            model.params.zeroGrads()
            let loss = model.forward(images: Tensor(shape: imgs.shape, values: imgs.values), batch: 2, training: true, rng: &rng, compute: .serial)
            model.backward(compute: .serial)
            let tag = normPix ? "normpix" : "plain"
            let expected = Double(try XCTUnwrap(tensors["loss." + tag]).values[0])
            XCTAssertEqual(loss, expected, accuracy: 1e-5 * abs(expected), tag)
            var worst = 0.0
            for e in model.params.entries {
                let want = try XCTUnwrap(tensors["grad.\(tag).\(e.name)"]).values
                let got = UnsafeBufferPointer(start: model.params.grad(e.ref), count: e.ref.count)
                let scale = Double(want.map { abs($0) }.max()!)
                let err = zip(got, want).map { Double(abs($0 - $1)) }.max()! / Swift.max(scale, 1e-30)
                worst = Swift.max(worst, err)
                XCTAssertLessThan(err, 1e-5, "\(tag) \(e.name): max |Δ| / max |grad| = \(err)")
            }
            print("MAE parity (\(tag)): loss \(loss) vs \(expected); worst gradient error \(worst) of each tensor's max")
        }
    }
}
