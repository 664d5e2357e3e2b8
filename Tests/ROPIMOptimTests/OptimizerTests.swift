// The optimizers and schedule against torch's update rules written out in Double, and the optim section's
// validation.

import Foundation
import XCTest
import ROPIMKernels
import ROPIMNN
@testable import ROPIMOptim

final class OptimizerTests: XCTestCase {
    /// AdamW against torch.optim.AdamW's update written out in Double, three steps, decay and no-decay params.
    func testAdamWMatchesTorchUpdateRule() {
        let p = ParameterStore()
        let w = p.add("fc.weight", shape: [2, 2]), b = p.add("fc.bias", shape: [2])
        p.allocate()
        let w0: [Double] = [0.5, -1, 2, 0.1], b0: [Double] = [0.3, -0.2]
        for i in 0..<4 { p.value(w)[i] = Float(w0[i]) }
        for i in 0..<2 { p.value(b)[i] = Float(b0[i]) }
        let opt = AdamW(params: p, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.05)
        var ref = w0 + b0, m = [Double](repeating: 0, count: 6), v = m
        let grads: [[Double]] = [[0.1, -0.2, 0.3, 0.0, 1.0, -1.0], [0.05, 0.1, -0.3, 0.2, 0.5, 0.5], [-0.1, 0.0, 0.1, 0.2, -0.5, 2.0]]
        let lrs = [1e-2, 5e-3, 2e-2]
        for (t, g) in grads.enumerated() {
            for i in 0..<6 { p.grads[i] = Float(g[i]) }
            opt.update(lr: Float(lrs[t]), compute: .serial)
            let lr = lrs[t], step = Double(t + 1)
            for i in 0..<6 {
                if i < 4 { ref[i] *= 1 - lr * 0.05 }           // weights decay, biases do not
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.95 * v[i] + 0.05 * g[i] * g[i]
                let denom = (v[i] / (1 - pow(0.95, step))).squareRoot() + 1e-8
                ref[i] -= lr / (1 - pow(0.9, step)) * m[i] / denom
            }
        }
        for i in 0..<6 { XCTAssertEqual(Double(p.values[i]), ref[i], accuracy: 2e-6, "param \(i)") }
    }

    func testGradientClippingScalesToMaxNorm() {
        let p = ParameterStore(); p.add("a", shape: [4]); p.allocate()
        for (i, g) in [3.0, 4.0, 0, 0].enumerated() { p.grads[i] = Float(g) }
        XCTAssertEqual(GradientClipping.clip(p, maxNorm: 10), 5, accuracy: 1e-9)
        XCTAssertEqual(p.grads[0], 3)    // under the limit: untouched
        XCTAssertEqual(GradientClipping.clip(p, maxNorm: 1), 5, accuracy: 1e-9)
        XCTAssertEqual(Double(p.grads[0]), 0.6, accuracy: 1e-6)
        XCTAssertEqual(Double(p.grads[1]), 0.8, accuracy: 1e-6)
    }

    func testScheduleWarmsUpLinearlyThenCosine() {
        let s = CosineSchedule(peak: 1e-3, warmupLR: 1e-6, minLR: 1e-5, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s.lr(at: 0), 1e-6, accuracy: 1e-15)
        XCTAssertEqual(s.lr(at: 5), 1e-6 + (1e-3 - 1e-6) / 2, accuracy: 1e-12)
        XCTAssertEqual(s.lr(at: 10), 1e-3, accuracy: 1e-15)
        XCTAssertEqual(s.lr(at: 60), (1e-3 + 1e-5) / 2, accuracy: 1e-12)
        XCTAssertEqual(s.lr(at: 110), 1e-5, accuracy: 1e-15)
        for t in 10..<110 { XCTAssertGreaterThanOrEqual(s.lr(at: t), s.lr(at: t + 1)) }
        XCTAssertNil(s.warning)
        XCTAssertNil(CosineSchedule(peak: 1e-3, warmupLR: 0, minLR: 0, warmupSteps: 468, totalSteps: 468).warning)
        let tooLong = CosineSchedule(peak: 1e-3, warmupLR: 1e-6, minLR: 1e-5, warmupSteps: 2340, totalSteps: 468)
        XCTAssertTrue(tooLong.warning?.contains("warmup_epochs") == true, tooLong.warning ?? "no warning")
    }

    /// SGD with momentum against torch.optim.SGD's rule written out in Double: g += wd·w (weights only),
    /// buf = μ·buf + g, w −= lr·buf; three steps.
    func testSGDMatchesTorchUpdateRule() {
        let p = ParameterStore()
        let w = p.add("head.weight", shape: [1, 3]), b = p.add("head.bias", shape: [1])
        p.allocate()
        let w0: [Double] = [0.5, -1, 2], b0: [Double] = [0.25]
        for i in 0..<3 { p.value(w)[i] = Float(w0[i]) }
        p.value(b)[0] = Float(b0[0])
        let sgd = SGD(params: p, momentum: 0.9, weightDecay: 0.1)
        var ref = w0 + b0, buf = [Double](repeating: 0, count: 4)
        let grads: [[Double]] = [[0.1, -0.2, 0.3, 1.0], [0.05, 0.1, -0.3, -0.5], [-0.1, 0.0, 0.1, 2.0]]
        for (t, g) in grads.enumerated() {
            for i in 0..<4 { p.grads[i] = Float(g[i]) }
            let lr = [0.1, 0.05, 0.2][t]
            sgd.update(lr: Float(lr))
            for i in 0..<4 {
                let gi = g[i] + (i < 3 ? 0.1 * ref[i] : 0)
                buf[i] = 0.9 * buf[i] + gi
                ref[i] -= lr * buf[i]
            }
        }
        for i in 0..<4 { XCTAssertEqual(Double(p.values[i]), ref[i], accuracy: 1e-6, "param \(i)") }
    }

    /// Every optim key is checked once, in OptimConfig.validate, and the message names the key.
    func testOptimConfigRejectsOutOfRangeValuesByKey() {
        func rejects(_ key: String, _ change: (inout OptimConfig) -> Void, file: StaticString = #filePath, line: UInt = #line) {
            var o = OptimConfig()
            change(&o)
            XCTAssertThrowsError(try o.validate(), file: file, line: line) {
                XCTAssertTrue("\($0)".contains("optim.\(key)"), "\($0)", file: file, line: line)
            }
        }
        XCTAssertNoThrow(try OptimConfig().validate())
        XCTAssertNoThrow(try OptimConfig.fineTuning.validate())
        rejects("epochs") { $0.epochs = 0 }
        rejects("epochs") { $0.epochs = Int.max }
        rejects("batch_size") { $0.batchSize = 0 }
        rejects("accum_steps") { $0.accumSteps = -1 }
        rejects("base_lr") { $0.baseLR = .nan }
        rejects("base_lr") { $0.baseLR = -1 }
        rejects("warmup_lr") { $0.warmupLR = .infinity }
        rejects("min_lr") { $0.minLR = -1e-9 }
        rejects("warmup_epochs") { $0.warmupEpochs = .nan }
        rejects("warmup_epochs") { $0.warmupEpochs = 1e300 }
        rejects("weight_decay") { $0.weightDecay = -5 }
        rejects("betas") { $0.betas = [0.9] }
        rejects("betas") { $0.betas = [0.9, 1] }
        rejects("eps") { $0.eps = 0 }
        rejects("layer_decay") { $0.layerDecay = .nan }
        rejects("layer_decay") { $0.layerDecay = 1.5 }
        rejects("clip_grad") { $0.clipGrad = -1 }
        rejects("max_steps") { $0.maxSteps = -1 }
    }

    func testScaledLearningRatesFollowTheTotalBatch() {
        var o = OptimConfig()
        o.batchSize = 64; o.accumSteps = 4; o.baseLR = 1e-3; o.warmupLR = 5e-7; o.minLR = 5e-6
        XCTAssertEqual(o.totalBatch, 256)
        XCTAssertEqual(o.scaledLR().peak, 5e-4, accuracy: 1e-18)
        XCTAssertEqual(o.scaledLR().warmup, 2.5e-7, accuracy: 1e-20)
        XCTAssertEqual(o.scaledLR().min, 2.5e-6, accuracy: 1e-20)
        // Data-parallel: batch_size is per rank; 4 ranks × 256 = a global batch of 1024.
        XCTAssertEqual(o.globalBatch(worldSize: 4), 1024)
        XCTAssertEqual(o.scaledLR(worldSize: 4).peak, 2e-3, accuracy: 1e-18)
    }
}
