import XCTest
import Foundation
import ROPIMKernels
import ROPIMData
import ROPIMNN
import ROPIMCore
import ROPIMTraining
@testable import ROPIMDownstream
import ROPIMOptim
import ROPIMFiles
import ROPIMConfig

func tinyViT() -> ViTConfig {
    var c = ViTConfig()
    c.imgSize = 8; c.patchSize = 2; c.inChans = 1; c.embedDim = 16; c.depth = 2; c.numHeads = 2
    c.mlpRatio = 2; c.layerScaleInit = 0.5
    return c
}

func tempDir() -> String {
    let d = NSTemporaryDirectory() + "ropim-downstream-\(UUID().uuidString)"
    try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

/// A tiny pre-training checkpoint with random (non-zero everywhere) weights, written to a temp file.
func tinyCheckpoint(model: ViTConfig = tinyViT()) throws -> (path: String, model: any PretrainingObjective, config: PretrainConfig) {
    var c = PretrainConfig()
    c.model = model
    c.method.sketchSize = 4; c.method.maskPatchSize = 4
    c.data.dataset = .synthetic; c.data.syntheticCount = 64
    c.data.normalization = Normalization(mean: [0.5], std: [0.25])
    let m = try Objectives.make(vit: c.model, method: c.method)
    var rng = RNG(seed: 5)
    m.initialize(rng: &rng)
    for i in 0..<m.params.count { m.params.values[i] += Float(rng.normal()) * 0.05 }   // relative tables too
    let path = tempDir() + "/checkpoint.safetensors"
    try saveCheckpoint(model: m, config: c, step: 7, to: path)
    return (path, m, c)
}

func tinyFinetuneConfig() -> FinetuneConfig {
    var c = FinetuneConfig()
    c.model = tinyViT(); c.model.relPosBias = .perBlock
    c.data.dataset = .synthetic; c.data.syntheticCount = 64
    c.data.normalization = Normalization(mean: [0.5], std: [0.25])
    c.data.augment = AugmentConfig(randomResizedCrop: true, scale: [0.5, 1])
    c.optim.epochs = 2; c.optim.batchSize = 16; c.optim.warmupEpochs = 0.5; c.optim.baseLR = 0.05
    c.run.seed = 3
    return c
}

func assertThrows(_ expr: @autoclosure () throws -> Any, containing text: String, file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try expr()
        XCTFail("expected an error containing '\(text)'", file: file, line: line)
    } catch {
        XCTAssertTrue("\(error)".contains(text), "error '\(error)' does not mention '\(text)'", file: file, line: line)
    }
}

final class LayerDecayTests: XCTestCase {
    /// depth 2, decay 0.5: stem (patch_embed, cls) ×0.125, block 0 ×0.25, block 1 ×0.5, fc_norm/head ×1.
    func testLayerIdsAndScalesOfTinyClassifier() throws {
        let clf = try ViTClassifier(vit: tinyViT(), classes: 3)
        let p = clf.params
        let expected: [String: (Int, Double)] = [
            "cls_token": (0, 0.125), "patch_embed.proj.weight": (0, 0.125), "patch_embed.proj.bias": (0, 0.125),
            "blocks.0.gamma_1": (1, 0.25), "blocks.0.attn.qkv.weight": (1, 0.25), "blocks.0.mlp.fc2.bias": (1, 0.25),
            "blocks.1.norm1.weight": (2, 0.5), "blocks.1.attn.q_bias": (2, 0.5),
            "fc_norm.weight": (3, 1), "fc_norm.bias": (3, 1), "head.weight": (3, 1), "head.bias": (3, 1),
        ]
        for (name, (layer, scale)) in expected {
            XCTAssertNotNil(p.entry(name), name)
            XCTAssertEqual(LayerDecay.layer(of: name, depth: 2), layer, name)
            XCTAssertEqual(LayerDecay.scale(layer: layer, depth: 2, decay: 0.5), scale, accuracy: 1e-15, name)
        }
        // Names that only other layouts have.
        XCTAssertEqual(LayerDecay.layer(of: "pos_embed", depth: 2), 0)
        XCTAssertEqual(LayerDecay.layer(of: "encoder.mask_token", depth: 2), 0)
        XCTAssertEqual(LayerDecay.layer(of: "rel_pos_bias.relative_position_bias_table", depth: 2), 3)
        XCTAssertEqual(LayerDecay.layer(of: "encoder.blocks.1.mlp.fc1.weight", depth: 2), 2)
        XCTAssertEqual(LayerDecay.layer(of: "blocks.11.attn.proj.weight", depth: 12), 12)
        XCTAssertEqual(LayerDecay.scale(layer: 0, depth: 12, decay: 0.75), pow(0.75, 13), accuracy: 1e-15)

        // Groups: (layer, decay?) → names, as timm's param_groups_lrd.
        let groups = LayerDecay.groups(p, depth: 2, decay: 0.5)
        XCTAssertEqual(groups.map(\.layer), [0, 0, 1, 1, 2, 2, 3, 3])
        XCTAssertEqual(groups.map(\.weightDecay), [false, true, false, true, false, true, false, true])
        XCTAssertEqual(groups.map(\.scale), [0.125, 0.125, 0.25, 0.25, 0.5, 0.5, 1, 1])
        XCTAssertEqual(Set(groups[0].names), ["cls_token", "patch_embed.proj.bias"])
        XCTAssertEqual(groups[1].names, ["patch_embed.proj.weight"])
        XCTAssertEqual(Set(groups[7].names), ["head.weight"])
        // A shared relative table (tinyViT keeps it shared) belongs with the head, as in SimMIM.
        XCTAssertEqual(Set(groups[6].names), ["rel_pos_bias.relative_position_bias_table", "fc_norm.weight", "fc_norm.bias", "head.bias"])
        XCTAssertEqual(groups.reduce(0) { $0 + $1.names.count }, p.entries.count)
    }

    /// AdamW applies the scales: after one step with unit gradients and no weight decay, each parameter
    /// moved by lr · scale (Adam's first step is ±lr per coordinate).
    func testAdamWAppliesLayerScales() throws {
        let clf = try ViTClassifier(vit: tinyViT(), classes: 3)
        let p = clf.params
        let opt = AdamW(params: p, beta1: 0.9, beta2: 0.999, eps: 1e-12, weightDecay: 0)
        opt.lrScales = LayerDecay.scales(p, depth: 2, decay: 0.5)
        for i in 0..<p.count { p.grads[i] = 1 }
        let before = p.values.array
        opt.update(lr: 0.01, compute: .serial)
        for (ei, e) in p.entries.enumerated() {
            let expected = 0.01 * LayerDecay.scale(layer: LayerDecay.layer(of: e.name, depth: 2), depth: 2, decay: 0.5)
            XCTAssertEqual(Double(before[e.ref.offset] - p.values[e.ref.offset]), expected, accuracy: 1e-6, e.name)
            XCTAssertEqual(Double(opt.lrScales[ei]), expected / 0.01, accuracy: 1e-7)
        }
    }
}

final class ClassifierGradientTests: XCTestCase {
    let tolerance = 5e-3

    /// The head path alone: tokens [B, N, D] → mean of patch tokens → fc_norm → head → soft-target CE.
    func testHeadPathGradient() {
        var rng = RNG(seed: 21)
        let b = 3, n = 5, d = 8, k = 4
        let p = ParameterStore()
        let ln = LayerNorm(p, "fc_norm", dim: d), head = Linear(p, "head", inFeatures: d, outFeatures: k)
        p.allocate()
        for i in 0..<p.count { p.values[i] = Float(rng.normal()) * 0.5 }
        let x = Tensor(shape: [b * n, d]), dx = Tensor(shape: [b * n, d])
        for i in 0..<x.count { x[i] = Float(rng.normal()) }
        let targets = Tensor(shape: [b, k])
        for i in 0..<b { Mixup.smoothedOneHot(i % k, classes: k, smoothing: 0.1, into: targets.data + i * k) }
        let pooled = Tensor(shape: [b, d]), normed = Tensor(shape: [b, d]), mean = Tensor(shape: [b]), rstd = Tensor(shape: [b])
        let logits = Tensor(shape: [b, k]), dLogits = Tensor(shape: [b, k]), dNormed = Tensor(shape: [b, d]), dPooled = Tensor(shape: [b, d])
        func forward() -> Double {
            ViTClassifier.meanPool(x.data, batch: b, tokens: n, dim: d, into: pooled.data)
            ln.forward(p, x: pooled.data, rows: b, y: normed.data, mean: mean.data, rstd: rstd.data, compute: .serial)
            head.forward(p, x: normed.data, rows: b, y: logits.data, compute: .serial)
            return SoftmaxCrossEntropy.loss(logits: logits.data, targets: targets.data, batch: b, classes: k, dLogits: dLogits.data)
        }
        let r = GradientCheck.run(targets: GradientCheck.targets(p) + [("tokens", x.data, dx.data, x.count)], samples: 8, eps: 1e-2, floor: 0.01, loss: forward) {
            p.zeroGrads()
            _ = forward()
            head.backward(p, dy: dLogits.data, x: normed.data, rows: b, dx: dNormed.data, compute: .serial)
            ln.backward(p, dy: dNormed.data, x: pooled.data, rows: b, mean: mean.data, rstd: rstd.data, dx: dPooled.data, accumulate: false, compute: .serial)
            ViTClassifier.meanPoolBackward(dPooled.data, batch: b, tokens: n, dim: d, into: dx.data)
        }
        XCTAssertLessThan(r.maxError, tolerance, r.description)
        // The cls row receives no gradient under patch-token pooling.
        for i in 0..<b { for j in 0..<d { XCTAssertEqual(dx[(i * n) * d + j], 0) } }
    }

    /// The whole tiny classifier (per-block relative bias, LayerScale, drop path with replayed masks),
    /// loss = soft-target CE against mixed smoothed targets.
    func testWholeClassifierGradient() throws {
        var vit = tinyViT()
        vit.imgSize = 8; vit.patchSize = 4; vit.embedDim = 8; vit.relPosBias = .perBlock; vit.dropPathRate = 0.3; vit.initStd = 0.3
        let clf = try ViTClassifier(vit: vit, classes: 3)
        var rng = RNG(seed: 22)
        clf.initialize(rng: &rng, headInitScale: 1)
        for i in 0..<clf.params.count { clf.params.values[i] += Float(rng.normal()) * 0.1 }
        let b = 4
        let imgs = Tensor(shape: [b, 1, 8, 8])
        for i in 0..<imgs.count { imgs[i] = Float(rng.normal()) }
        let targets = Tensor(shape: [b, 3])
        let mixed = Tensor(shape: [b, 1, 8, 8]); mixed.copy(from: imgs)
        var mixRNG = RNG(seed: 1)
        Mixup.apply(images: mixed, labels: [0, 1, 2, 1], settings: MixupSettings(mixupAlpha: 0.8, cutmixAlpha: 0, classes: 3), rng: &mixRNG, targets: targets)
        let dLogits = Tensor(shape: [b, 3])
        var seedRNG = RNG(seed: 99)
        let dropRNGs = RNG.split(&seedRNG, count: b)
        func forward() -> Double {
            var r = dropRNGs
            let z = clf.forward(images: mixed, batch: b, training: true, rngs: &r, compute: .serial)
            return SoftmaxCrossEntropy.loss(logits: z.data, targets: targets.data, batch: b, classes: 3, dLogits: dLogits.data)
        }
        let r = GradientCheck.run(targets: GradientCheck.targets(clf.params), samples: 4, eps: 1e-2, floor: 0.05, loss: forward) {
            clf.params.zeroGrads()
            _ = forward()
            clf.backward(dLogits.data, compute: .serial)
        }
        XCTAssertLessThan(r.maxError, tolerance, r.description)
        // Every parameter receives a gradient, none is NaN.
        for e in clf.params.entries {
            let g = UnsafeBufferPointer(start: clf.params.grad(e.ref), count: e.ref.count)
            XCTAssertFalse(g.contains { $0.isNaN }, e.name)
            XCTAssertTrue(g.contains { $0 != 0 }, "\(e.name) got no gradient")
        }
    }
}

final class TargetTests: XCTestCase {
    func testLabelSmoothingSumsToOne() {
        let t = UnsafeMutablePointer<Float>.allocate(capacity: 10); defer { t.deallocate() }
        Mixup.smoothedOneHot(3, classes: 10, smoothing: 0.1, into: t)
        XCTAssertEqual(t[3], 0.91, accuracy: 1e-6)
        XCTAssertEqual(t[0], 0.01, accuracy: 1e-7)
        XCTAssertEqual((0..<10).reduce(Float(0)) { $0 + t[$1] }, 1, accuracy: 1e-6)
    }

    func testGammaAndBetaMoments() {
        var rng = RNG(seed: 4)
        for alpha in [0.8, 1.0, 2.5] {
            let n = 20000
            let xs = (0..<n).map { _ in Mixup.beta(alpha, rng: &rng) }
            let mean = xs.reduce(0, +) / Double(n)
            let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            XCTAssertEqual(mean, 0.5, accuracy: 0.01, "Beta(\(alpha)) mean")
            XCTAssertEqual(variance, 1 / (4 * (2 * alpha + 1)), accuracy: 0.01, "Beta(\(alpha)) variance")
            XCTAssertTrue(xs.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
    }

    /// Many batches of mixup and CutMix: targets sum to 1 per sample; CutMix's λ equals 1 − clipped box
    /// area / image area and exactly the box's pixels come from the reversed batch; mixup blends with λ.
    func testMixupAndCutMixTargets() {
        var rng = RNG(seed: 8)
        let b = 6, c = 2, h = 7, w = 9, k = 5
        let labels = [0, 1, 2, 3, 4, 0]
        let settings = MixupSettings(mixupAlpha: 0.8, cutmixAlpha: 1.0, prob: 1.0, switchProb: 0.5, labelSmoothing: 0.1, classes: k)
        var sawCutmix = 0, sawMixup = 0
        for _ in 0..<300 {
            let imgs = Tensor(shape: [b, c, h, w])
            for i in 0..<imgs.count { imgs[i] = Float(i) }   // every pixel distinct
            let orig = imgs.clone()
            let targets = Tensor(shape: [0])
            let d = Mixup.apply(images: imgs, labels: labels, settings: settings, rng: &rng, targets: targets)
            XCTAssertEqual(targets.shape, [b, k])
            for i in 0..<b {
                let s = (0..<k).reduce(Float(0)) { $0 + targets[i * k + $1] }
                XCTAssertEqual(s, 1, accuracy: 1e-5)
                let lam = Float(d.lambda)
                let expectOwn = lam * (0.9 + 0.02) + (1 - lam) * (labels[b - 1 - i] == labels[i] ? 0.92 : 0.02)
                XCTAssertEqual(targets[i * k + labels[i]], expectOwn, accuracy: 1e-5)
            }
            let per = c * h * w
            if let box = d.box {
                sawCutmix += 1
                XCTAssertEqual(d.lambda, 1 - Double(box.area) / Double(h * w), accuracy: 1e-12)
                XCTAssertTrue(box.y0 >= 0 && box.y1 <= h && box.x0 >= 0 && box.x1 <= w && box.y0 <= box.y1 && box.x0 <= box.x1)
                for i in 0..<b { for ch in 0..<c { for y in 0..<h { for x in 0..<w {
                    let inBox = y >= box.y0 && y < box.y1 && x >= box.x0 && x < box.x1
                    let src = inBox ? b - 1 - i : i
                    let o = (ch * h + y) * w + x
                    XCTAssertEqual(imgs[i * per + o], orig[src * per + o])
                } } } }
            } else {
                sawMixup += 1
                let lam = Float(d.lambda)
                for i in 0..<b { for o in stride(from: 0, to: per, by: 17) {
                    XCTAssertEqual(imgs[i * per + o], lam * orig[i * per + o] + (1 - lam) * orig[(b - 1 - i) * per + o], accuracy: 1e-3)
                } }
            }
        }
        XCTAssertGreaterThan(sawCutmix, 100); XCTAssertGreaterThan(sawMixup, 100)
    }

    /// λ after clipping = 1 − box area / image area, for clipped and unclipped boxes alike.
    func testCutMixBoxClipsAndCorrectsLambda() {
        var rng = RNG(seed: 2)
        var clipped = 0
        for _ in 0..<1000 {
            let lam = rng.uniform()
            let (box, corrected) = Mixup.cutmixBox(height: 28, width: 20, lambda: lam, rng: &rng)
            XCTAssertTrue(box.y0 >= 0 && box.y1 <= 28 && box.x0 >= 0 && box.x1 <= 20)
            XCTAssertEqual(corrected, 1 - Double(box.area) / (28 * 20), accuracy: 1e-12)
            // Unclipped, the box spans 2·⌊cut/2⌋ pixels per side (timm's cy ± cut_h // 2).
            let ch = Int(28 * (1 - lam).squareRoot()), cw = Int(20 * (1 - lam).squareRoot())
            if box.y1 - box.y0 < 2 * (ch / 2) || box.x1 - box.x0 < 2 * (cw / 2) { clipped += 1 }
            XCTAssertGreaterThanOrEqual(corrected, 1 - Double(2 * (ch / 2) * 2 * (cw / 2)) / (28 * 20) - 1e-12)
        }
        XCTAssertGreaterThan(clipped, 100, "boxes near the border must be clipped")
    }

    func testSoftmaxCrossEntropyValues() {
        let z: [Float] = [1, 2, 3, 0, 0, 0]
        let t: [Float] = [0, 0, 1, 0.5, 0.5, 0]
        let g = UnsafeMutablePointer<Float>.allocate(capacity: 6); defer { g.deallocate() }
        let l = SoftmaxCrossEntropy.loss(logits: z, targets: t, batch: 2, classes: 3, dLogits: g)
        let l1 = -(3 - log(exp(1.0) + exp(2.0) + exp(3.0))), l2 = log(3.0)
        XCTAssertEqual(l, (l1 + l2) / 2, accuracy: 1e-6)
        XCTAssertEqual((0..<3).reduce(Float(0)) { $0 + g[$1] }, 0, accuracy: 1e-6)
        let ev = SoftmaxCrossEntropy.evaluate(logits: z, labels: [2, 1][...], classes: 3)
        XCTAssertEqual(ev.top1, 1)   // row 2 is a three-way tie: argmax picks class 0, so label 1 misses
        XCTAssertEqual(ev.top5, 2)
    }
}

final class KNNTests: XCTestCase {
    /// Three well-separated clusters (different directions, scaled and noised): weighted k-NN is exact.
    func testSeparableToySetIsExact() throws {
        var rng = RNG(seed: 6)
        let d = 8, classes = 3
        func make(_ n: Int) -> FeatureSet {
            var v: [Float] = [], l: [Int] = []
            for i in 0..<n {
                let c = i % classes
                for j in 0..<d { v.append(Float((j % classes == c ? 1.0 : 0.0) + 0.1 * rng.normal()) * Float(1 + rng.uniform() * 3)) }
                l.append(c)
            }
            return FeatureSet(dim: d, values: v, labels: l)
        }
        let r = try KNN.classify(train: make(90), test: make(60), classes: classes, k: 20, temperature: 0.07, compute: .serial)
        XCTAssertEqual(r.top1, 100)
        XCTAssertEqual(r.top5, 100)
        XCTAssertEqual(r.testCount, 60)
    }

    func testSingleNeighbourIsNearestByCosine() throws {
        let train = FeatureSet(dim: 2, values: [1, 0, 0, 1, -1, 0], labels: [0, 1, 2])
        let test = FeatureSet(dim: 2, values: [5, 0.1, 0.2, 3, -2, -0.1], labels: [0, 1, 2])
        let r = try KNN.classify(train: train, test: test, classes: 3, k: 1, temperature: 0.07, compute: .serial)
        XCTAssertEqual(r.top1, 100)
        assertThrows(try KNN.classify(train: train, test: test, classes: 2, compute: .serial), containing: "outside 0..<2")
    }
}

final class FinetuneTests: XCTestCase {
    /// Right after construction, the classifier's encoder equals the checkpoint's (names with "encoder."
    /// stripped), each block's relative table equals the shared one, and only fc_norm/head are new.
    func testFinetuneStartsFromCheckpointWeights() throws {
        let (path, model, _) = try tinyCheckpoint()
        let ckpt = try PretrainCheckpoint(path: path)
        var c = tinyFinetuneConfig(); c.pretrained = path
        let (train, test) = try DownstreamData.load(c.data, channels: 1, imgSize: 8, seed: 0, compute: .serial)
        let t = try FinetuneTrainer(config: c, train: train, test: test, pretrained: ckpt, compute: .serial)
        let p = t.classifier.params, src = model.params
        var compared = 0
        for e in src.entries where e.name.hasPrefix("encoder.") && !e.name.contains("rel_pos_bias") && e.name != "encoder.norm.weight" && e.name != "encoder.norm.bias" && e.name != "encoder.mask_token" {
            let name = String(e.name.dropFirst("encoder.".count))
            guard let mine = p.entry(name) else { XCTFail("classifier lacks \(name)"); continue }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: p.value(mine.ref), count: mine.ref.count)),
                           Array(UnsafeBufferPointer(start: src.value(e.ref), count: e.ref.count)), name)
            compared += 1
        }
        XCTAssertGreaterThan(compared, 20)
        let shared = src.entry("encoder.rel_pos_bias.relative_position_bias_table")!
        let sharedValues = Array(UnsafeBufferPointer(start: src.value(shared.ref), count: shared.ref.count))
        XCTAssertTrue(sharedValues.contains { $0 != 0 })
        for i in 0..<2 {
            let e = p.entry("blocks.\(i).attn.relative_position_bias_table")!
            XCTAssertEqual(Array(UnsafeBufferPointer(start: p.value(e.ref), count: e.ref.count)), sharedValues)
        }
        let report = t.loadReport!
        XCTAssertEqual(Set(report.missing), ["fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"])
        XCTAssertEqual(Set(report.unexpected), ["encoder.norm.weight", "encoder.norm.bias", "decoder.0.weight", "decoder.0.bias"])
        // Head initialized as BEiT: tiny weights, zero bias.
        let hw = p.entry("head.weight")!, hb = p.entry("head.bias")!
        let wmax = UnsafeBufferPointer(start: p.value(hw.ref), count: hw.ref.count).map(abs).max()!
        XCTAssertGreaterThan(wmax, 0); XCTAssertLessThan(wmax, 0.02 * 6 * 0.001)   // trunc-normal(0.02) × 0.001
        XCTAssertTrue(UnsafeBufferPointer(start: p.value(hb.ref), count: hb.ref.count).allSatisfy { $0 == 0 })
    }

    func testWrongArchitectureIsAClearError() throws {
        let (path, _, _) = try tinyCheckpoint()
        let ckpt = try PretrainCheckpoint(path: path)
        var c = tinyFinetuneConfig(); c.model.embedDim = 32
        let (train, test) = try DownstreamData.load(c.data, channels: 1, imgSize: 8, seed: 0, compute: .serial)
        assertThrows(try FinetuneTrainer(config: c, train: train, test: test, pretrained: ckpt, compute: .serial), containing: "model.embed_dim: checkpoint 16, fine-tune 32")
        // The patch size must still match (the image size may change, see PositionResizeTests).
        var g = tinyFinetuneConfig(); g.model.patchSize = 4
        assertThrows(try FinetuneTrainer(config: g, train: train, test: test, pretrained: ckpt, compute: .serial), containing: "model.patch_size: checkpoint 2, fine-tune 4")
        var odd = tinyViT(); odd.imgSize = 9; odd.relPosBias = .perBlock
        assertThrows(try ViTClassifier.checkCompatible(pretrained: tinyViT(), finetune: odd, source: "ck"),
                     containing: "model.img_size 9 is not a multiple of the checkpoint's model.patch_size 2")
    }

    /// A checkpoint whose embedded config was edited (embed_dim 16 → 32) no longer matches its tensors.
    func testEditedCheckpointConfigIsAClearError() throws {
        let (path, _, _) = try tinyCheckpoint()
        var (tensors, meta) = try SafeTensors.read(path)
        meta["config"] = meta["config"]!.replacingOccurrences(of: "embed_dim: 16", with: "embed_dim: 32")
        XCTAssertTrue(meta["config"]!.contains("embed_dim: 32"))
        let edited = tempDir() + "/edited.safetensors"
        try SafeTensors.write(tensors, metadata: meta, to: edited)
        assertThrows(try PretrainCheckpoint(path: edited), containing: "another architecture")
        tensors.removeAll()
    }

    func testMissingCheckpointIsAClearError() {
        assertThrows(try PretrainCheckpoint(path: "/nonexistent/run/checkpoint.safetensors"), containing: "checkpoint not found")
    }

    func testClassCountBelowLabelsIsAClearError() throws {
        var c = tinyFinetuneConfig(); c.method.classes = 5   // synthetic data has labels 0…9
        let (train, test) = try DownstreamData.load(c.data, channels: 1, imgSize: 8, seed: 0, compute: .serial)
        assertThrows(try FinetuneTrainer(config: c, train: train, test: test, compute: .serial), containing: "but --classes is 5")
        assertThrows(try FinetuneTrainer(config: c, train: train, test: test, compute: .serial), containing: "pass --classes 10")
        c.method.classes = 12   // more classes than labels is allowed (unused outputs)
        XCTAssertEqual(try FinetuneTrainer(config: c, train: train, test: test, compute: .serial).classes, 12)
    }

    /// A short run from scratch: finite losses, per-epoch evaluation lines, best and last checkpoints.
    func testShortFinetuneRunWritesMetricsAndCheckpoints() throws {
        let c = tinyFinetuneConfig()
        let (train, test) = try DownstreamData.load(c.data, channels: 1, imgSize: 8, seed: 0, compute: .serial)
        let t = try FinetuneTrainer(config: c, train: train, test: test, compute: .serial)
        let dir = tempDir()
        var losses: [Double] = []
        let s = try t.run(runDirectory: dir, progress: Progress(interactive: false)) { losses.append($1) }
        XCTAssertEqual(s.steps, 2 * (64 / 16))
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
        XCTAssertEqual(s.epochs, 2)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/best.safetensors"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/checkpoint.safetensors"))
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.contains("test_top1") }.count, 2)
        let (tensors, meta) = try SafeTensors.read(dir + "/best.safetensors")
        XCTAssertEqual(meta["format"], "ropim-finetune")
        XCTAssertTrue(tensors.contains { $0.name == "head.weight" && $0.shape == [10, 16] })
        XCTAssertTrue((0...100).contains(s.bestTop1))
    }

    /// A fine-tuned classifier exports as a timm model directory with its head: mean pooling, fc_norm and head
    /// (global_pool avg, no final norm), num_classes from the head; its encoder reads back unchanged.
    func testFineTunedClassifierExportsWithItsHead() throws {
        var c = tinyFinetuneConfig()
        c.optim.epochs = 1
        let (train, test) = try DownstreamData.load(c.data, channels: 1, imgSize: 8, seed: 0, compute: .serial)
        let t = try FinetuneTrainer(config: c, train: train, test: test, compute: .serial)
        let dir = tempDir()
        _ = try t.run(runDirectory: dir, progress: Progress(interactive: false)) { _, _ in }
        let source = try ExportSource(path: dir + "/best.safetensors")
        XCTAssertEqual(source.classes, 10)
        let hub = try Interchange.export(source, format: .beit, to: dir + "/exported")
        XCTAssertEqual(hub.numClasses, 10); XCTAssertEqual(hub.pretrainedCfg.numClasses, 10)
        XCTAssertEqual(hub.modelArgs["global_pool"], .string("avg"))
        let (tensors, _) = try SafeTensors.read(dir + "/exported/model.safetensors")
        let names = Set(tensors.map(\.name))
        XCTAssert(names.isSuperset(of: ["fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"]) && !names.contains("norm.weight"), "\(names.sorted())")
        let (original, _) = try SafeTensors.read(dir + "/best.safetensors")
        for o in original { XCTAssertEqual(tensors.first { $0.name == o.name }?.values, o.values, o.name) }
        let back = try ExportSource(path: dir + "/exported")
        XCTAssertEqual(back.classes, 10); XCTAssertEqual(back.config, source.config)
    }

    /// The loader's threads and prefetch come from `data.workers` / `data.prefetch` (defaults 2 and 2, as
    /// the constants they replace); any setting trains the same steps, since each image's draws depend only
    /// on (seed, epoch, index). Bad values are a config error naming the keys.
    func testLoaderWorkersAndPrefetchComeFromTheConfig() throws {
        var c = tinyFinetuneConfig()
        c.optim.epochs = 1
        XCTAssertEqual([c.data.workers, c.data.prefetch], [2, 2])
        let yaml = try ConfigLoader.yaml(c)
        XCTAssertTrue(yaml.contains("workers: 2") && yaml.contains("prefetch: 2"), yaml)
        let loaded = try ConfigLoader.load(FinetuneConfig.self, yaml: "data:\n  workers: 0\n  prefetch: 1\n", file: "t.yaml", defaults: c)
        XCTAssertEqual([loaded.data.workers, loaded.data.prefetch], [0, 1])
        let (train, test) = try DownstreamData.load(c.data, channels: 1, imgSize: 8, seed: 0, compute: .serial)
        func losses(_ config: FinetuneConfig) throws -> [Double] {
            var out: [Double] = []
            try FinetuneTrainer(config: config, train: train, test: test, compute: ComputeContext(threads: 2))
                .run(runDirectory: tempDir(), progress: Progress(interactive: false)) { out.append($1) }
            return out
        }
        XCTAssertEqual(try losses(loaded), try losses(c))
        var bad = c
        bad.data.workers = -1
        assertThrows(try bad.validate(), containing: "data.workers")
        bad = c
        bad.data.prefetch = 0
        assertThrows(try bad.validate(), containing: "data.prefetch")
    }

    /// Fine-tuning shares the training loop, gradient accumulation included: batch 8 × 2 micro-batches
    /// takes 64 / 16 optimizer steps per epoch.
    func testFinetuneWithGradientAccumulation() throws {
        var c = tinyFinetuneConfig()
        c.optim.batchSize = 8; c.optim.accumSteps = 2; c.optim.epochs = 1
        let (train, test) = try DownstreamData.load(c.data, channels: 1, imgSize: 8, seed: 0, compute: .serial)
        let t = try FinetuneTrainer(config: c, train: train, test: test, compute: .serial)
        XCTAssertEqual(t.stepsPerEpoch, 4)
        var losses: [Double] = []
        let s = try t.run(runDirectory: tempDir(), progress: Progress(interactive: false)) { losses.append($1) }
        XCTAssertEqual(s.steps, 4)
        XCTAssertTrue(losses.allSatisfy(\.isFinite))
    }
}

final class ProbeTests: XCTestCase {
    /// Features from block i equal the pooled output of that block; −1 is the final (normed) output.
    func testFeatureBlocksAndPooling() throws {
        let (_, model, c) = try tinyCheckpoint()
        let data = SyntheticImages.make(count: 5, channels: 1, size: 8, classes: 10, seed: 1, compute: .serial)
        let enc = model.encoder
        let last = try Features.extract(encoder: enc, data: data, normalization: c.data.normalization, block: -1, pooling: .cls, batchSize: 2, compute: .serial)
        let b0 = try Features.extract(encoder: enc, data: data, normalization: c.data.normalization, block: 0, pooling: .avg, batchSize: 5, compute: .serial)
        // Recompute image 4 alone.
        let img = Tensor(shape: [0])
        makeBatch(data, indices: [4], size: 8, outChannels: 1, normalization: c.data.normalization, into: img, compute: .serial)
        let tok = enc.embedPatches(img, batch: 1, compute: .serial)
        let out = enc.encode(tok.data, batch: 1, compute: .serial)
        let d = 16, n = 17
        for j in 0..<d {
            XCTAssertEqual(last.values[4 * d + j], out[j], accuracy: 1e-5)
            var m: Float = 0
            for t in 1..<n { m += enc.blocks[0].output[t * d + j] }
            XCTAssertEqual(b0.values[4 * d + j], m / 16, accuracy: 1e-5)
        }
        assertThrows(try Features.extract(encoder: enc, data: data, normalization: c.data.normalization, block: 2, compute: .serial), containing: "outside")
    }

    /// last_blocks 2 (DINO): [LN(block 0) pooled, final output pooled], the LN being the encoder's final norm
    /// recomputed here by hand; more blocks than the depth, or a block other than −1, is refused.
    func testFeaturesOfTheLastBlocksAreConcatenated() throws {
        let (_, model, c) = try tinyCheckpoint()
        let data = SyntheticImages.make(count: 3, channels: 1, size: 8, classes: 10, seed: 2, compute: .serial)
        let enc = model.encoder, norm = try XCTUnwrap(enc.norm)
        let final = try Features.extract(encoder: enc, data: data, normalization: c.data.normalization, batchSize: 3, compute: .serial)
        let both = try Features.extract(encoder: enc, data: data, normalization: c.data.normalization, lastBlocks: 2, batchSize: 2, compute: .serial)
        XCTAssertEqual(both.dim, 32)
        let img = Tensor(shape: [0])
        makeBatch(data, indices: [2], size: 8, outChannels: 1, normalization: c.data.normalization, into: img, compute: .serial)
        _ = enc.encode(enc.embedPatches(img, batch: 1, compute: .serial).data, batch: 1, compute: .serial)
        let d = 16, n = 17, g = enc.params.value(norm.weight), beta = enc.params.value(norm.bias)
        var pooled = [Float](repeating: 0, count: d)
        for t in 1..<n {
            let row = (0..<d).map { enc.blocks[0].output[t * d + $0] }
            let mu = row.reduce(0, +) / Float(d)
            let rs = 1 / (row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Float(d) + norm.eps).squareRoot()
            for j in 0..<d { pooled[j] += ((row[j] - mu) * rs * g[j] + beta[j]) / Float(n - 1) }
        }
        for j in 0..<d {
            XCTAssertEqual(both.values[2 * 32 + j], pooled[j], accuracy: 1e-4)
            XCTAssertEqual(both.values[2 * 32 + d + j], final.values[2 * d + j], accuracy: 1e-5)
        }
        assertThrows(try Features.extract(encoder: enc, data: data, normalization: c.data.normalization, lastBlocks: 3, compute: .serial), containing: "last_blocks")
        assertThrows(try Features.extract(encoder: enc, data: data, normalization: c.data.normalization, block: 0, lastBlocks: 2, compute: .serial), containing: "last_blocks")
        var p = ProbeConfig(); p.lastBlocks = 3
        assertThrows(try p.validate(depth: 2), containing: "more than the encoder's 2 blocks")
    }

    /// The probe learns a linearly separable problem (pixels of synthetic classes) well above chance,
    /// and the frozen-features runners write their records.
    func testLinearProbeAndKNNOnSyntheticData() throws {
        var c = FrozenFeaturesConfig()
        c.data.dataset = .synthetic; c.data.syntheticCount = 400
        c.data.normalization = Normalization(mean: [0.5], std: [0.25])
        c.model = tinyViT()
        c.probe.features = .pixels; c.probe.epochs = 20; c.probe.batchSize = 50; c.probe.warmupEpochs = 1
        let dir = tempDir()
        let r = try FrozenEvaluation.linearProbe(c, checkpoint: nil, runDirectory: dir, compute: .serial)
        XCTAssertGreaterThan(r["top1"] as! Double, 40)    // chance: 10 %
        c.probe.features = .random
        let k = try FrozenEvaluation.knn(c, checkpoint: nil, runDirectory: tempDir(), compute: .serial)
        XCTAssertGreaterThan(k["top1"] as! Double, 10)
        c.probe.features = .pretrained
        assertThrows(try FrozenEvaluation.knn(c, checkpoint: nil, runDirectory: tempDir(), compute: .serial), containing: "needs a checkpoint")
    }

    /// fault-15's kind: features that are not finite (here pixels normalized by a vanishing std) and a probe
    /// loss that overflows are errors saying where they came from, never a silent 0 %.
    func testNonFiniteFeaturesAndProbeLossAreErrors() throws {
        var c = FrozenFeaturesConfig()
        c.data.dataset = .synthetic; c.data.syntheticCount = 100
        c.data.normalization = Normalization(mean: [0.5], std: [0x1p-130])   // positive and finite, but (v − mean)/std overflows
        c.model = tinyViT()
        c.probe.features = .pixels
        for part in ["features of train are not finite: ", " values are NaN or infinite (the first at index 0) (probe.features pixels)"] {
            assertThrows(try FrozenEvaluation.knn(c, checkpoint: nil, runDirectory: tempDir(), compute: .serial), containing: part)
        }
        var rng = RNG(seed: 1)
        let probe = LinearProbe(dim: 2, classes: 2, rng: &rng)
        let f = FeatureSet(dim: 2, values: (0..<16).map { Float($0 % 3) - 1 }, labels: (0..<8).map { $0 % 2 })
        var p = ProbeConfig(); p.baseLR = 1e40; p.epochs = 50; p.batchSize = 4; p.warmupEpochs = 0
        assertThrows(try probe.train(train: f, test: f, config: p, rng: &rng, compute: .serial), containing: "linear probe: the training loss is")
    }

    /// `pretrain --knn-every 1`: metrics.jsonl gets knn_top1 after every epoch.
    func testPretrainKNNMonitorLogs() throws {
        var c = PretrainConfig()
        c.model = tinyViT()
        c.method.sketchSize = 4
        c.data.dataset = .synthetic; c.data.syntheticCount = 64
        c.data.normalization = Normalization(mean: [0.5], std: [0.25])
        c.optim.batchSize = 16; c.optim.epochs = 2; c.optim.warmupEpochs = 0.5
        c.run.knnEvery = 1; c.run.knnTrainSubset = 80; c.run.knnTestSubset = 20
        let trainer = try PretrainTrainer(config: c, dataset: try c.loadDataset(compute: .serial), compute: .serial)
        let monitor = try KNNMonitor(config: c, compute: .serial)
        trainer.epochHook = { _, model in try monitor.evaluate(encoder: model.encoder, compute: .serial) }
        let dir = tempDir()
        try trainer.train(runDirectory: dir, progress: Progress(interactive: false))
        let lines = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let knn = lines.filter { $0.contains("knn_top1") }
        XCTAssertEqual(knn.count, 2)
        XCTAssertTrue(knn[0].contains("\"epoch\":1"))
        XCTAssertEqual(monitor.train.count, 80); XCTAssertEqual(monitor.test.count, 20)
    }
}

final class PositionResizeTests: XCTestCase {
    func table(_ t: [Float], row: Int, head: Int, heads: Int) -> Float { t[row * heads + head] }

    func testResizeToSameSizeIsIdentity() {
        var rng = RNG(seed: 11)
        let heads = 3, rows = RelativePositionBias.tableRows(gridHeight: 3, gridWidth: 4)
        let t = (0..<(rows * heads)).map { _ in Float(rng.normal()) }
        XCTAssertEqual(RelativePositionBias.resizeTable(t, heads: heads, from: (3, 4), to: (3, 4)), t)
        let pos = (0..<((1 + 25) * 4)).map { _ in Float(rng.normal()) }
        XCTAssertEqual(VisionTransformer.resizePosEmbed(pos, dim: 4, from: 5, to: 5), pos)
    }

    /// A bias that is a plane in the relative offset, a·dy + b·dx + c per head, stays a plane: align_corners=False
    /// stretches the offset range onto the new one, so it becomes a·sᵧ·dy' + b·sₓ·dx' + c with
    /// sᵧ = (2Wh−1)/(2Wh'−1). Where the 4×4 taps lie inside the old table it is within 0.049 old steps × slope
    /// (torch's A = −0.75 kernel reproduces lines only approximately; exact at the centre); at the border,
    /// torch's edge clamping bends it by up to a quarter of an old step × slope.
    /// The three cls rows are copied unchanged.
    func testPlaneStaysAPlaneAndClsRowsAreCopied() {
        let heads = 2
        let coef: [(a: Float, b: Float, c: Float)] = [(0.3, -0.7, 0.1), (-1.1, 0.25, 2)]
        for (from, to) in [((3, 4), (5, 7)), ((4, 4), (8, 8)), ((5, 5), (3, 3))] {
            let (h, w) = (2 * from.0 - 1, 2 * from.1 - 1), (h2, w2) = (2 * to.0 - 1, 2 * to.1 - 1)
            var t = [Float](repeating: 0, count: (h * w + 3) * heads)
            for y in 0..<h { for x in 0..<w { for k in 0..<heads {
                let (dy, dx) = (Float(y - (from.0 - 1)), Float(x - (from.1 - 1)))
                t[(y * w + x) * heads + k] = coef[k].a * dy + coef[k].b * dx + coef[k].c
            } } }
            let cls: [Float] = [5, -6, 7, -8, 9, -10]
            for i in 0..<6 { t[h * w * heads + i] = cls[i] }
            let r = RelativePositionBias.resizeTable(t, heads: heads, from: from, to: to)
            XCTAssertEqual(r.count, RelativePositionBias.tableRows(gridHeight: to.0, gridWidth: to.1) * heads)
            XCTAssertEqual(Array(r[(h2 * w2 * heads)...]), cls, "cls rows \(from) → \(to)")
            let (sy, sx) = (Float(h) / Float(h2), Float(w) / Float(w2))
            // Interior along one axis: the source coordinate (o + ½)·n/m − ½ has all 4 taps inside 0..<n.
            func interior(_ o: Int, _ n: Int, _ m: Int) -> Bool {
                let i = Int(((Double(o) + 0.5) * Double(n) / Double(m) - 0.5).rounded(.down))
                return i >= 1 && i + 2 <= n - 1
            }
            var interiorCount = 0
            for y in 0..<h2 { for x in 0..<w2 { for k in 0..<heads {
                let (dy, dx) = (Float(y - (to.0 - 1)), Float(x - (to.1 - 1)))
                let plane = coef[k].a * sy * dy + coef[k].b * sx * dx + coef[k].c
                let got = r[(y * w2 + x) * heads + k]
                if interior(y, h, h2) && interior(x, w, w2) {
                    XCTAssertEqual(got, plane, accuracy: 0.049 * (abs(coef[k].a) + abs(coef[k].b)) + 1e-5,
                                   "\(from) → \(to) at (\(dy), \(dx)) head \(k)")
                    interiorCount += 1
                } else {
                    XCTAssertEqual(got, plane, accuracy: 0.25 * (abs(coef[k].a) + abs(coef[k].b)), "border \(from) → \(to) at (\(dy), \(dx))")
                }
            } } }
            XCTAssertGreaterThan(interiorCount, 0)
            // The zero offset stays the zero offset.
            let centre = ((to.0 - 1) * w2 + (to.1 - 1)) * heads
            XCTAssertEqual(r[centre], coef[0].c, accuracy: 1e-5); XCTAssertEqual(r[centre + 1], coef[1].c, accuracy: 1e-5)
        }
    }

    /// Constants stay constant everywhere (weights sum to 1, clamped borders included), and a bias symmetric
    /// under (dy, dx) → (−dy, −dx) stays symmetric (the centre maps to the centre).
    func testConstantsAndSymmetryArePreserved() {
        var rng = RNG(seed: 12)
        let ones = [Float](repeating: 1.5, count: RelativePositionBias.tableRows(gridHeight: 3, gridWidth: 3))
        XCTAssertTrue(RelativePositionBias.resizeTable(ones, heads: 1, from: (3, 3), to: (6, 4)).allSatisfy { abs($0 - 1.5) < 1e-5 })
        let (h, w) = (5, 5)
        var t = [Float](repeating: 0, count: h * w + 3)
        for y in 0..<h { for x in 0..<w where y * w + x <= (h * w) / 2 {
            let v = Float(rng.normal())
            t[y * w + x] = v; t[(h - 1 - y) * w + (w - 1 - x)] = v
        } }
        let r = RelativePositionBias.resizeTable(t, heads: 1, from: (3, 3), to: (7, 7))
        let n = 13
        for y in 0..<n { for x in 0..<n { XCTAssertEqual(r[y * n + x], r[(n - 1 - y) * n + (n - 1 - x)], accuracy: 1e-5) } }
    }

    /// Pre-trained at 8 px (patch 2 → grid 4), fine-tuned at 12 px (grid 6): construction succeeds, every
    /// block's table equals the resized pre-trained table (shared → copied into each block; per-block → each
    /// resized), a learned pos_embed is resized with its cls row kept, the report lists what was resized,
    /// and a forward pass at the new size is finite.
    func testFinetuneFromCheckpointAtAnotherImageSize() throws {
        for mode in [RelativePositionMode.shared, .perBlock] {
            var pre = tinyViT(); pre.posEmbed = .learned; pre.relPosBias = mode
            let (path, model, _) = try tinyCheckpoint(model: pre)
            let ckpt = try PretrainCheckpoint(path: path)
            var c = tinyFinetuneConfig(); c.pretrained = path
            c.model.posEmbed = .learned; c.model.imgSize = 12
            let (train, test) = try DownstreamData.load(c.data, channels: 1, imgSize: 12, seed: 0, compute: .serial)
            let t = try FinetuneTrainer(config: c, train: train, test: test, pretrained: ckpt, compute: .serial)
            let p = t.classifier.params, src = model.params
            func values(_ s: ParameterStore, _ name: String) -> [Float] {
                let e = s.entry(name)!
                return Array(UnsafeBufferPointer(start: s.value(e.ref), count: e.ref.count))
            }
            let sharedName = "encoder.rel_pos_bias.relative_position_bias_table"
            for i in 0..<2 {
                let srcName = mode == .shared ? sharedName : "encoder.blocks.\(i).attn.relative_position_bias_table"
                let expected = RelativePositionBias.resizeTable(values(src, srcName), heads: 2, from: (4, 4), to: (6, 6))
                XCTAssertEqual(expected.count, (11 * 11 + 3) * 2)
                XCTAssertEqual(values(p, "blocks.\(i).attn.relative_position_bias_table"), expected, "\(mode) block \(i)")
            }
            let pos = values(p, "pos_embed"), srcPos = values(src, "encoder.pos_embed")
            XCTAssertEqual(pos.count, (1 + 36) * 16)
            XCTAssertEqual(pos, VisionTransformer.resizePosEmbed(srcPos, dim: 16, from: 4, to: 6))
            XCTAssertEqual(Array(pos[0..<16]), Array(srcPos[0..<16]), "cls row kept")
            XCTAssertEqual(values(p, "blocks.1.mlp.fc1.weight"), values(src, "encoder.blocks.1.mlp.fc1.weight"))
            let report = t.loadReport!
            let expectedResized: Set<String> = mode == .shared
                ? [sharedName, "encoder.pos_embed"]
                : ["encoder.blocks.0.attn.relative_position_bias_table", "encoder.blocks.1.attn.relative_position_bias_table", "encoder.pos_embed"]
            XCTAssertEqual(Set(report.resized), expectedResized)
            XCTAssertTrue(report.description.contains("resized \(expectedResized.count): "), report.description)
            XCTAssertEqual(Set(report.missing), ["fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"])
            let imgs = Tensor(shape: [2, 1, 12, 12])
            var rng = RNG(seed: 1)
            for i in 0..<imgs.count { imgs[i] = Float(rng.normal()) }
            let z = t.classifier.forward(images: imgs, batch: 2, compute: .serial)
            XCTAssertTrue((0..<z.count).allSatisfy { z[$0].isFinite })
        }
    }
}

final class DownstreamConfigTests: XCTestCase {
    /// NaN passed `x <= 0` checks before (linprobe --lr nan trained, then failed writing JSON): every
    /// probe, fine-tuning and data key is range-checked by its owner with the key in the message.
    func testNaNAndOutOfRangeSettingsNameTheKey() {
        func probe(_ key: String, _ change: (inout ProbeConfig) -> Void) {
            var p = ProbeConfig(); change(&p)
            XCTAssertThrowsError(try p.validate(depth: 2)) { XCTAssertTrue("\($0)".contains(key), "\($0)") }
        }
        probe("probe.base_lr") { $0.baseLR = .nan }
        probe("probe.temperature") { $0.temperature = .nan }
        probe("probe.weight_decay") { $0.weightDecay = .infinity }
        probe("probe.warmup_epochs") { $0.warmupEpochs = -1 }
        var f = tinyFinetuneConfig(); f.method.mixup = .nan
        XCTAssertThrowsError(try f.validate()) { XCTAssertTrue("\($0)".contains("method.mixup"), "\($0)") }
        f = tinyFinetuneConfig(); f.method.headInitScale = .nan
        XCTAssertThrowsError(try f.validate()) { XCTAssertTrue("\($0)".contains("method.head_init_scale"), "\($0)") }
        f = tinyFinetuneConfig(); f.data.normalization.std = [0]
        XCTAssertThrowsError(try f.validate()) { XCTAssertTrue("\($0)".contains("data.normalization"), "\($0)") }
        f = tinyFinetuneConfig(); f.data.syntheticCount = -1
        XCTAssertThrowsError(try f.validate()) { XCTAssertTrue("\($0)".contains("data.synthetic_count"), "\($0)") }
        XCTAssertNoThrow(try tinyFinetuneConfig().validate())
    }
}
