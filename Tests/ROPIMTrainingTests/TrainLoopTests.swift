// The shared training loop: one step over micro-batches equals one step over their union (the loss
// is a mean), a non-finite loss stops before any update, and the epoch driver's bookkeeping.

import Foundation
import XCTest
import ROPIMKernels
import ROPIMNN
import ROPIMOptim
@testable import ROPIMTraining

final class TrainLoopTests: XCTestCase {
    /// Least squares on a 3-parameter linear model: L = mean over rows of (w·x − y)² / 2.
    final class Regression {
        let params = ParameterStore()
        let w: ParamRef
        let x: [[Float]] = [[1, 2, 0], [0, 1, -1], [2, 0, 1], [1, 1, 1]]
        let y: [Float] = [1, -1, 2, 0.5]
        init() { w = params.add("w", shape: [1, 3]); params.allocate(); for i in 0..<3 { params.values[i] = Float(i) * 0.1 } }
        /// Loss of rows `rows`; leaves its gradient × `scale` accumulated by `backward`.
        var pending: [Float] = [0, 0, 0]
        func forward(_ rows: Range<Int>) -> Double {
            let wv = params.value(w)
            var loss = 0.0
            pending = [0, 0, 0]
            for r in rows {
                let e = (0..<3).reduce(Float(0)) { $0 + wv[$1] * x[r][$1] } - y[r]
                loss += Double(e * e) / 2
                for j in 0..<3 { pending[j] += e * x[r][j] / Float(rows.count) }
            }
            return loss / Double(rows.count)
        }
        func backward(_ scale: Float) { for j in 0..<3 { params.grad(w)[j] += pending[j] * scale } }
    }

    func loop(_ m: Regression, accum: Int) -> TrainLoop {
        var o = OptimConfig(); o.accumSteps = accum; o.clipGrad = 0
        return TrainLoop(params: m.params, optimizer: AdamW(params: m.params, config: o, depth: 0), optim: o, compute: .serial)
    }

    func testMicroBatchesEqualTheWholeBatch() throws {
        let a = Regression(), b = Regression()
        let la = loop(a, accum: 2), lb = loop(b, accum: 1)
        for _ in 0..<3 {
            let ra = try la.step(lr: 0.01, forward: { a.forward(($0 * 2)..<($0 * 2 + 2)) }, backward: a.backward)
            let rb = try lb.step(lr: 0.01, forward: { _ in b.forward(0..<4) }, backward: b.backward)
            XCTAssertEqual(ra.loss, rb.loss, accuracy: 1e-6)
            XCTAssertEqual(ra.gradNorm, rb.gradNorm, accuracy: 1e-6)
            for i in 0..<3 { XCTAssertEqual(a.params.values[i], b.params.values[i], accuracy: 1e-6) }
        }
    }

    func testNonFiniteLossStopsBeforeTheUpdate() {
        let m = Regression()
        let before = m.params.values.array
        XCTAssertThrowsError(try loop(m, accum: 1).step(lr: 0.01, forward: { _ in .nan }, backward: m.backward)) {
            XCTAssertTrue($0 is NonFiniteLoss)
        }
        XCTAssertEqual(m.params.values.array, before)
    }

    /// 3 epochs of 4 steps, started at epoch 1 step 2, cut at 9 steps: steps 7…9, the partial epochs
    /// reported as such, a stop request honoured at a step boundary.
    func testEpochDriverStartsCutsAndStops() throws {
        let m = Regression()
        var o = OptimConfig(); o.epochs = 3; o.clipGrad = 0
        let l = TrainLoop(params: m.params, optimizer: AdamW(params: m.params, config: o, depth: 0), optim: o, compute: .serial)
        let schedule = CosineSchedule(peak: 0.01, warmupLR: 0, minLR: 0, warmupSteps: 0, totalSteps: 12)
        let dir = NSTemporaryDirectory() + "loop-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var steps: [Int] = [], epochs: [String] = []
        var work = TrainLoop.Work(forward: { _ in m.forward(0..<4) }, backward: m.backward)
        work.afterStep = { step, epoch, index, _ in steps.append(step); XCTAssertEqual(step, epoch * 4 + index + 1) }
        work.afterEpoch = { epoch, step, complete in epochs.append("\(epoch):\(step):\(complete)") }
        let r = try l.run(schedule: schedule, stepsPerEpoch: 4, from: (1, 2), totalSteps: 9,
                          metrics: try MetricsWriter(path: dir + "/metrics.jsonl"), progress: Progress(interactive: false),
                          logEvery: 100, runDirectory: dir, work: work)
        XCTAssertEqual(steps, [7, 8, 9])
        XCTAssertEqual(epochs, ["1:8:true", "2:9:false"])
        XCTAssertEqual(r.step, 9); XCTAssertFalse(r.stopped); XCTAssertEqual(r.losses.count, 3)
        XCTAssertEqual(try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count, 3)

        var asked = 0
        work.stopRequested = { asked += 1; return asked > 2 }
        steps = []
        let stopped = try l.run(schedule: schedule, stepsPerEpoch: 4, from: (0, 0), totalSteps: 12,
                                metrics: try MetricsWriter(path: dir + "/metrics2.jsonl"), progress: Progress(interactive: false),
                                logEvery: 100, runDirectory: dir, work: work)
        XCTAssertTrue(stopped.stopped); XCTAssertEqual(stopped.step, 2); XCTAssertEqual(steps, [1, 2])
    }
}
