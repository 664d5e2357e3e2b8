import XCTest
import Foundation
import ROPIMKernels
import ROPIMNN
import ROPIMCore
@testable import ROPIMTraining
import ROPIMFiles
import ROPIMData
import ROPIMTestSupport

/// Parity with PyTorch without Python: golden fixtures made by scripts/parity/make_fixtures.py (torch +
/// timm, double precision) hold weights, an input, the expected final tokens and the gradients of
/// Σ output·probe. Our encoder must load the weights by name and reproduce both.
final class ParityTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path

    func config(relPos: RelativePositionMode) -> ViTConfig {
        var c = ViTConfig()
        c.imgSize = 8; c.patchSize = 4; c.inChans = 2; c.embedDim = 16; c.depth = 2; c.numHeads = 2
        c.mlpRatio = 4; c.layerScaleInit = 0.1; c.dropPathRate = 0; c.posEmbed = .learned; c.relPosBias = relPos
        return c
    }

    func check(fixture: String, relPos: RelativePositionMode, timmName: (String) -> [String]) throws {
        let path = ParityTests.fixtures + "/\(fixture).safetensors"
        let (tensors, _) = try SafeTensors.read(path)
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        let v = config(relPos: relPos)
        let store = ParameterStore()
        let vit = VisionTransformer(config: v, params: store)
        store.allocate()
        let report = try Interchange.importEncoder(path, into: store, prefix: "")
        XCTAssert(report.missing.isEmpty, "\(report)")
        XCTAssert(report.unexpected.allSatisfy { ["input", "output", "probe"].contains($0) || $0.hasPrefix("grad.") }, "\(report)")
        let input = Tensor(shape: [2, 2, 8, 8], values: byName["input"]!.values)
        let tok = vit.embedPatches(input, batch: 2, compute: .serial)
        let out = vit.encode(tok.data, batch: 2, compute: .serial)
        let expected = byName["output"]!.values
        var worst: Float = 0
        for i in 0..<expected.count { worst = max(worst, abs(out[i] - expected[i])) }
        XCTAssertLessThan(worst, 5e-6, "\(fixture): max |ropim − torch| on the output tokens")
        print("parity \(fixture): max |ropim − torch| on output tokens \(worst) (max |output| \(expected.map(abs).max()!))")
        // Gradients of Σ output·probe for every parameter.
        store.zeroGrads()
        let probe = Tensor(shape: [2 * 5, 16], values: byName["probe"]!.values)
        let dTok = vit.backwardEncode(probe.data, compute: .serial)
        vit.backwardPatches(dTok.data, compute: .serial)
        var worstGrad: Float = 0
        for e in store.entries {
            let ours = Array(UnsafeBufferPointer(start: store.grad(e.ref), count: e.ref.count))
            let names = timmName(e.name)
            var theirs: [Float] = []
            for n in names { theirs += byName["grad." + n]!.values }
            if e.name.hasSuffix("q_bias") { theirs = Array(theirs.prefix(16)) }
            if e.name.hasSuffix("v_bias") { theirs = Array(theirs.suffix(16)) }
            XCTAssertEqual(ours.count, theirs.count, e.name)
            let scale = max(theirs.map(abs).max() ?? 0, 1e-3)
            worstGrad = max(worstGrad, zip(ours, theirs).map { abs($0 - $1) / scale }.max() ?? 0)
            for i in 0..<ours.count {
                XCTAssertEqual(ours[i], theirs[i], accuracy: 1e-5 * scale, "\(fixture) grad \(e.name)[\(i)]")
            }
        }
        print("parity \(fixture): max gradient error relative to each tensor's max |grad|: \(worstGrad)")
    }

    func testBEiTForwardAndGradientsMatchTimm() throws {
        try check(fixture: "beit_tiny", relPos: .shared) { [$0] }
    }

    func testTimmVisionTransformerForwardAndGradientsMatch() throws {
        try check(fixture: "vit_tiny", relPos: .none) { name in
            if name.hasSuffix("attn.q_bias") || name.hasSuffix("attn.v_bias") {
                return [name.replacingOccurrences(of: name.hasSuffix("q_bias") ? "q_bias" : "v_bias", with: "qkv.bias")]
            }
            return [name.replacingOccurrences(of: ".gamma_1", with: ".ls1.gamma").replacingOccurrences(of: ".gamma_2", with: ".ls2.gamma")]
        }
    }

    /// Export then re-import: every encoder tensor survives, in both formats.
    func testExportRoundTrip() throws {
        var c = PretrainConfig()
        c.model = config(relPos: .shared)
        let model = try Objectives.make(vit: c.model, method: c.method.with(sketchSize: 4))
        var rng = RNG(seed: 3)
        model.initialize(rng: &rng)
        for (format, relPos) in [(ExportFormat.beit, RelativePositionMode.shared), (.timm, .none)] {
            var cc = c; cc.model.relPosBias = relPos
            let m = try Objectives.make(vit: cc.model, method: cc.method.with(sketchSize: 4))
            m.initialize(rng: &rng)
            for i in 0..<m.params.count { m.params.values[i] += Float(rng.normal()) * 0.1 }
            let tensors = try Interchange.exportTensors(m.params, config: cc.model, prefix: "encoder.", format: format)
            let path = NSTemporaryDirectory() + "export-\(UUID().uuidString).safetensors"
            try SafeTensors.write(tensors, metadata: [:], to: path)
            let store = ParameterStore()
            _ = VisionTransformer(config: cc.model, params: store)
            store.allocate()
            let report = try Interchange.importEncoder(path, into: store, prefix: "")
            XCTAssert(report.missing.isEmpty && report.unexpected.isEmpty, "\(format): \(report)")
            for e in store.entries {
                let src = m.params.entry("encoder." + e.name)!
                XCTAssertEqual(Array(UnsafeBufferPointer(start: store.value(e.ref), count: e.ref.count)),
                               Array(UnsafeBufferPointer(start: m.params.value(src.ref), count: src.ref.count)), "\(format) \(e.name)")
            }
        }
        XCTAssertThrowsError(try Interchange.exportTensors(model.params, config: c.model, prefix: "encoder.", format: .timm)) {
            XCTAssert("\($0)".contains("--format beit"), "\($0)")
        }
    }
}

/// Parity checked by timm itself (bug-15, issue 18): `timm.create_model("local-dir:DIR", pretrained=True)` builds each
/// exported model directory with no other code (config.json as written, strict load) and its forward_features equals
/// `ropim embed` within 1e-5 relative (scripts/parity/compare_timm.py). Runs when a Python with torch, timm and
/// safetensors is found ($PYTHON, else python3); skipped with a message otherwise.
final class TimmParityTests: ScratchTestCase {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/parity/compare_timm.py").standardized.path

    /// Skips the test unless a Python with torch, timm and safetensors is found.
    static func requireTimm() throws {
        let probe = try runPython(["-c", "import torch, timm, safetensors; print(timm.__version__)"])
        guard probe.status == 0 else {
            throw XCTSkip("no Python with torch, timm and safetensors (set PYTHON=/path/to/python): \(probe.output.suffix(200))")
        }
    }

    func testTimmBuildsEachExportFromItsDirectoryAndMatchesEmbed() throws {
        try Self.requireTimm()
        for (format, relPos, pos) in [(ExportFormat.beit, RelativePositionMode.shared, PositionEmbedding.none), (.beit, .perBlock, .sincos),
                                      (.timm, .none, .learned)] {
            var c = ResumeTests.config()
            c.model.relPosBias = relPos; c.model.posEmbed = pos
            let model = try Objectives.make(vit: c.model, method: c.method)
            var rng = RNG(seed: 4)
            model.initialize(rng: &rng)
            for i in 0..<model.params.count { model.params.values[i] += Float(rng.normal()) * 0.05 }   // zero tables and biases become visible
            let name = "\(format.rawValue)-\(relPos.rawValue)"
            let ck = dir + "/ck-\(name).safetensors", enc = dir + "/export-\(name)"
            try saveCheckpoint(model: model, config: c, step: 1, to: ck)
            try Interchange.export(try ExportSource(path: ck), format: format, to: enc)
            let feats = try Self.embed(enc, to: dir + "/feats-\(name).safetensors")
            let r = try runPython([Self.script, enc, feats])
            XCTAssertEqual(r.status, 0, "\(name): \(r.output)")
            print("timm parity \(name): \(r.output.split(separator: "\n").last ?? "")")
        }
    }

    /// `ropim embed` of 8 synthetic images with their inputs, into `path`.
    static func embed(_ checkpoint: String, to path: String) throws -> String {
        let ef = try EncoderFile(checkpoint)
        var d = Embedding.dataConfig(for: ef, split: "test")
        d.dataset = .synthetic; d.syntheticCount = 16
        var s = EmbedSettings(); s.count = 8; s.saveInputs = true
        try Embedding.write(try Embedding.tensors(ef, images: try Embedding.images(d, encoder: ef, compute: .serial), settings: s, compute: .serial),
                            encoder: ef, split: "test", to: path)
        return path
    }
}

/// Model directories and files written by timm itself (scripts/parity/make_hub_fixtures.py): `ropim import`,
/// `embed` and `export` read them with no Python, and compute what timm computed.
final class HubFixtureTests: ScratchTestCase {
    static let hub = ParityTests.fixtures + "/hub"

    /// Final tokens of `encoder` on the fixture's input against timm's, relative to timm's largest |value|. A
    /// classifier's encoder ends in a parameter-free LayerNorm where timm's has none (its norm follows pooling):
    /// `normalized` applies that to timm's tokens.
    func assertMatches(_ encoder: EncoderFile, fixture: String, normalized: Bool = false, file: StaticString = #filePath, line: UInt = #line) throws {
        let (ts, _) = try SafeTensors.read(Self.hub + "/\(fixture).expected.safetensors")
        let x = ts.first { $0.name == "input" }!, output = ts.first { $0.name == "output" }!
        let d = output.shape.last!
        let y = normalized ? stride(from: 0, to: output.values.count, by: d).flatMap { start -> [Float] in
            let row = output.values[start..<(start + d)].map(Double.init)
            let mean = row.reduce(0, +) / Double(d), variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
            return row.map { Float(($0 - mean) / (variance + 1e-6).squareRoot()) }
        } : output.values
        let out = encoder.features(Tensor(shape: x.shape, values: x.values), batch: x.shape[0], compute: .serial).array
        XCTAssertEqual(out.count, y.count, file: file, line: line)
        let scale = y.map(abs).max()!, worst = zip(out, y).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst / scale, 2e-6, "\(fixture): max |ropim − timm| / max |timm| on the final tokens", file: file, line: line)
    }

    /// timm's own save_for_hf directory (F16 weights, per-block relative position bias): the architecture from
    /// config.json, the weights loaded and the tokens equal to timm's; `ropim import` makes a checkpoint of it
    /// that computes the same.
    func testTimmModelDirectoryLoadsAndImports() throws {
        let beit = Self.hub + "/beit_f16"
        let ef = try EncoderFile(beit)
        XCTAssertEqual([ef.config.inChans, ef.config.imgSize, ef.config.patchSize, ef.config.embedDim, ef.config.depth], [2, 8, 4, 16, 2])
        XCTAssertEqual(ef.config.relPosBias, .perBlock)
        XCTAssertEqual(ef.normalization, Normalization(mean: [0.5, 0.4], std: [0.2, 0.3]))
        try assertMatches(ef, fixture: "beit_f16")
        var base = PretrainConfig()
        base.method.sketchSize = 2   // divides the fixture's 4 tokens
        let c = try EncoderImport.config(for: beit, base: base)
        XCTAssertEqual(c.model, ef.config)
        let report = try EncoderImport.run(file: beit, config: c, output: dir + "/imported", allowMissing: false)
        XCTAssert(report.unexpected.isEmpty, "\(report)")
        try assertMatches(try EncoderFile(dir + "/imported"), fixture: "beit_f16")
    }

    /// A timm classifier (global_pool avg: fc_norm after pooling, no final norm): its encoder computes timm's
    /// forward_features, and `ropim export` writes it back with its head, label names and the same tensors.
    func testTimmClassifierExportsWithItsHead() throws {
        let vit = Self.hub + "/vit_classifier"
        let ef = try EncoderFile(vit)
        XCTAssertNotNil(ef.note, "the classifier's encoder is used with a parameter-free final norm")
        try assertMatches(ef, fixture: "vit_classifier", normalized: true)
        let source = try ExportSource(path: vit)
        XCTAssertEqual(source.classes, 3)
        XCTAssertEqual(source.labelNames, ["ant", "bee", "cat"])
        let hub = try Interchange.export(source, format: .timm, to: dir + "/again")
        XCTAssertEqual(hub.numClasses, 3)
        XCTAssertEqual(hub.modelArgs["global_pool"], .string("avg"))
        let (theirs, _) = try SafeTensors.read(vit + "/model.safetensors"), (ours, _) = try SafeTensors.read(dir + "/again/model.safetensors")
        XCTAssertEqual(Set(ours.map(\.name)), Set(theirs.map(\.name)), "every timm tensor and no other")
        let byName = Dictionary(uniqueKeysWithValues: theirs.map { ($0.name, $0) })
        for t in ours {
            let v = byName[t.name]!
            XCTAssertEqual(t.shape, v.shape, t.name)
            // timm's k bias is dropped (it shifts every score of a query row equally, so softmax ignores it); the rest is exact.
            if t.name.hasSuffix("qkv.bias") { XCTAssertEqual(Array(t.values.prefix(16)), Array(v.values.prefix(16)), t.name); continue }
            XCTAssertEqual(t.values, v.values, t.name)
        }
        XCTAssertThrowsError(try Interchange.export(source, format: .timm, to: vit + "/model.safetensors")) {
            XCTAssert("\($0)".contains("is not an earlier export"), "\($0)")
        }
        // A new output named like a weights file (shared/cases bug-07 wrote --output enc.safetensors) is refused.
        XCTAssertThrowsError(try Interchange.export(source, format: .timm, to: dir + "/enc.safetensors")) {
            XCTAssert("\($0)".contains("looks like a file, but export writes a model directory"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/enc.safetensors"), "nothing written")
    }

    /// A bare MAE-style file (BF16, `module.` prefix, decoder_* and mask_token beside the encoder): the
    /// architecture from the command's settings, the wrapper stripped, the decoder reported as unexpected, and
    /// the tokens equal to timm's on the stored weights.
    func testBareMAEFileImportsWithTheGivenArchitecture() throws {
        var c = PretrainConfig()
        c.model.imgSize = 8; c.model.patchSize = 4; c.model.inChans = 1; c.model.embedDim = 16; c.model.depth = 2; c.model.numHeads = 2
        c.model.relPosBias = .none; c.model.posEmbed = .learned; c.model.layerScaleInit = 0
        c.method.sketchSize = 2
        let file = Self.hub + "/mae_bf16.safetensors"
        XCTAssertEqual(try EncoderImport.config(for: file, base: c), c, "a bare file keeps the settings' architecture")
        let report = try EncoderImport.run(file: file, config: c, output: dir + "/mae", allowMissing: false)
        XCTAssertEqual(Set(report.unexpected), ["mask_token", "decoder_embed.weight", "decoder_pred.weight"])
        try assertMatches(try EncoderFile(dir + "/mae"), fixture: "mae_bf16")
        var wrong = c
        wrong.model.embedDim = 32
        XCTAssertThrowsError(try EncoderImport.run(file: file, config: wrong, output: dir + "/wrong", allowMissing: true)) {
            XCTAssert("\($0)".contains("but the model's 'encoder.") && "\($0)".contains("made for another architecture"), "\($0)")
        }
    }
}

extension MethodConfig {
    func with(sketchSize: Int) -> MethodConfig { var m = self; m.sketchSize = sketchSize; return m }
}
