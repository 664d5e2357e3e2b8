import XCTest
import Foundation
import ROPIMKernels
import ROPIMNN
import ROPIMCore
@testable import ROPIMTraining
import ROPIMFiles

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

extension MethodConfig {
    func with(sketchSize: Int) -> MethodConfig { var m = self; m.sketchSize = sketchSize; return m }
}
