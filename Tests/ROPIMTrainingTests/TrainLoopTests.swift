// The shared training loop: one step over micro-batches equals one step over their union (the loss
// is a mean), a non-finite loss stops before any update, and the epoch driver's bookkeeping.

import Foundation
import XCTest
import ROPIMKernels
import ROPIMNN
import ROPIMOptim
import Logging
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
                          metrics: try MetricsWriter(path: dir + "/metrics.jsonl"), progress: Progress(),
                          logEvery: 100, runDirectory: dir, work: work)
        XCTAssertEqual(steps, [7, 8, 9])
        XCTAssertEqual(epochs, ["1:8:true", "2:9:false"])
        XCTAssertEqual(r.step, 9); XCTAssertFalse(r.stopped); XCTAssertEqual(r.losses.count, 3)
        XCTAssertEqual(try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count, 3)

        var asked = 0
        work.stopRequested = { asked += 1; return asked > 2 }
        steps = []
        let stopped = try l.run(schedule: schedule, stepsPerEpoch: 4, from: (0, 0), totalSteps: 12,
                                metrics: try MetricsWriter(path: dir + "/metrics2.jsonl"), progress: Progress(),
                                logEvery: 100, runDirectory: dir, work: work)
        XCTAssertTrue(stopped.stopped); XCTAssertEqual(stopped.step, 2); XCTAssertEqual(steps, [1, 2])
    }
}

/// The step line's times: elapsed for the epoch and the run, and what is left from the mean step time (the first
/// step, which pays for warm-up, left out once there are others); every line through the logger, marked as a step
/// line, `.info` only when forced.
final class ProgressTests: XCTestCase {
    final class Capture: LogHandler, @unchecked Sendable {
        var lines: [(level: Logger.Level, text: String, step: Bool)] = []
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
        func log(event: LogEvent) {
            lines.append((event.level, event.message.description, event.metadata?[Progress.stepLine] != nil))
        }
    }

    func testTimesElapsedAndLeftForTheEpochAndTheRun() {
        let capture = Capture()
        let p = Progress(logger: Logger(label: "test") { _ in capture })
        // 3 epochs of 10 steps; the first step takes 2 s, every later one 1 s.
        func step(_ n: Int, force: Bool = false) {
            p.step(.init(epoch: (n - 1) / 10 + 1, epochs: 3, step: n, totalSteps: 30, stepInEpoch: (n - 1) % 10 + 1, stepsPerEpoch: 10,
                         loss: 0.5, lr: 1e-3, gradNorm: 1, imagesPerSecond: 100, elapsed: Double(n + 1)), force: force)
        }
        step(1, force: true)
        XCTAssertEqual(capture.lines.last?.text, "epoch 1/3  step 1/30  loss 0.5000  lr 1.000e-03  grad 1.000  100.0 img/s  epoch 0:02 (0:18 left)  run 0:02 (0:58 left)")
        for n in 2...5 { step(n) }
        XCTAssert(capture.lines.last!.text.hasSuffix("epoch 0:06 (0:05 left)  run 0:06 (0:25 left)"), capture.lines.last!.text)
        for n in 6...11 { step(n) }
        // Epoch 2 began when step 10 ended (11 s).
        XCTAssert(capture.lines.last!.text.hasSuffix("epoch 0:01 (0:09 left)  run 0:12 (0:19 left)"), capture.lines.last!.text)
        XCTAssertEqual(capture.lines.map(\.level), [.info] + [Logger.Level](repeating: .trace, count: 10))
        XCTAssert(capture.lines.allSatisfy(\.step))
        p.message("knn_top1 50.000")
        XCTAssertEqual(capture.lines.last?.level, .info); XCTAssertEqual(capture.lines.last?.step, false)
    }

    /// A run cut by max_steps mid-epoch: the epoch's time left stops where the run stops.
    func testEpochTimeLeftStopsAtTheRunsEnd() {
        let capture = Capture()
        let p = Progress(logger: Logger(label: "test") { _ in capture })
        p.step(.init(epoch: 1, epochs: 1, step: 1, totalSteps: 4, stepInEpoch: 1, stepsPerEpoch: 100, loss: 1, lr: 1, gradNorm: 1,
                     imagesPerSecond: 1, elapsed: 10), force: true)
        XCTAssert(capture.lines[0].text.hasSuffix("epoch 0:10 (0:30 left)  run 0:10 (0:30 left)"), capture.lines[0].text)
    }

    func testDurations() {
        XCTAssertEqual(Progress.duration(0), "0:00")
        XCTAssertEqual(Progress.duration(59.6), "1:00")
        XCTAssertEqual(Progress.duration(3725), "1:02:05")
        XCTAssertEqual(Progress.duration(100 * 3600), "100:00:00")
        XCTAssertEqual(Progress.duration(-3), "0:00")
        XCTAssertEqual(Progress.duration(.infinity), "?")
    }
}
