import XCTest
import Foundation
import ROPIMKernels
import ROPIMNN
import ROPIMCore
@testable import ROPIMTraining
import ROPIMFiles
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
        for (format, relPos) in [(ExportFormat.beit, RelativePositionMode.shared), (.timmVit, .none)] {
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
        XCTAssertThrowsError(try Interchange.exportTensors(model.params, config: c.model, prefix: "encoder.", format: .timmVit)) {
            XCTAssert("\($0)".contains("--format beit"), "\($0)")
        }
    }
}

/// Parity checked by timm itself (bug-15): timm builds each exported encoder from its sidecar's timm_kwargs as
/// written, loads the weights (strict, apart from timm's own buffers) and its forward_features equals
/// `ropim embed` (scripts/parity/compare_timm.py). Runs when a Python with torch, timm and safetensors is found
/// ($PYTHON, else python3); skipped with a message otherwise.
final class TimmParityTests: XCTestCase {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../scripts/parity/compare_timm.py").standardized.path

    func testTimmBuildsEachExportAsWrittenAndMatchesEmbed() throws {
        let probe = try runPython(["-c", "import torch, timm, safetensors; print(timm.__version__)"])
        guard probe.status == 0 else {
            throw XCTSkip("no Python with torch, timm and safetensors (set PYTHON=/path/to/python): \(probe.output.suffix(200))")
        }
        let dir = NSTemporaryDirectory() + "ropim-timm-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (format, relPos, pos) in [(ExportFormat.beit, RelativePositionMode.shared, PositionEmbedding.none), (.timmVit, .none, .learned)] {
            var c = ResumeTests.config()
            c.model.relPosBias = relPos; c.model.posEmbed = pos
            let model = try Objectives.make(vit: c.model, method: c.method)
            var rng = RNG(seed: 4)
            model.initialize(rng: &rng)
            for i in 0..<model.params.count { model.params.values[i] += Float(rng.normal()) * 0.05 }   // zero tables and biases become visible
            let ck = dir + "/ck-\(format.rawValue).safetensors", enc = dir + "/enc-\(format.rawValue).safetensors"
            try saveCheckpoint(model: model, config: c, step: 1, to: ck)
            _ = try Interchange.export(try PretrainCheckpoint(path: ck), source: ck, format: format, to: enc)
            let ef = try EncoderFile(enc)
            var d = Embedding.dataConfig(for: ef, split: "test")
            d.dataset = .synthetic; d.syntheticCount = 16
            var s = EmbedSettings(); s.count = 8; s.saveInputs = true
            let feats = dir + "/feats-\(format.rawValue).safetensors"
            try Embedding.write(try Embedding.tensors(ef, images: try Embedding.images(d, encoder: ef, compute: .serial), settings: s, compute: .serial), encoder: ef, split: "test", to: feats)
            let r = try runPython([Self.script, enc, feats])
            XCTAssertEqual(r.status, 0, "\(format.rawValue): \(r.output)")
            guard let line = r.output.split(separator: "\n").last, let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let diff = json["max_abs_diff"] as? Double else { return XCTFail("\(format.rawValue): \(r.output)") }
            XCTAssertLessThan(diff, 1e-5, "\(format.rawValue): max |timm − ropim| over 8 images")
            print("timm parity \(format.rawValue): \(line)")
        }
    }
}

extension MethodConfig {
    func with(sketchSize: Int) -> MethodConfig { var m = self; m.sketchSize = sketchSize; return m }
}
