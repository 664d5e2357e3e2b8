import XCTest
import Foundation
import ROPIMKernels
import ROPIMData
import ROPIMDistributed
import ROPIMTraining
@testable import ROPIMDownstream

/// The downstream work dealt over ranks (here threads sharing a `ThreadWorld`) equals one process: each batch
/// is computed as one process computes it, so features, k-NN hits and test evaluations agree bit for bit, and
/// fine-tuning agrees up to the order of the gradient sum.
final class DataParallelDownstreamTests: XCTestCase {
    /// 13 images in batches of 2 over 3 ranks: 7 batches in 3 rounds, the last leaving ranks 1 and 2 without one.
    func testFeaturesDealtOverRanksEqualOneProcess() throws {
        let (path, _, c) = try tinyCheckpoint()
        let data = SyntheticImages.make(count: 13, channels: 1, size: 8, classes: 10, seed: 3, compute: .serial)
        func features(_ world: any Communicator) throws -> (FeatureSet, [Int]) {
            let encoder = try PretrainCheckpoint(path: path).model.encoder   // one per rank: it keeps its activations
            var done: [Int] = []
            let f = try Features.extract(encoder: encoder, data: data, normalization: c.data.normalization, lastBlocks: 2, batchSize: 2,
                                         compute: .serial, communicator: world) { done.append($0) }
            return (f, done)
        }
        let (one, _) = try features(SingleProcess())
        XCTAssertEqual(one.count, 13)
        for (rank, (f, done)) in try ThreadWorld.run(size: 3, features).enumerated() {
            XCTAssertEqual(f.values, one.values, "rank \(rank)")
            XCTAssertEqual(f.labels, one.labels)
            XCTAssertEqual(done, [6, 12, 13], "progress counts every rank's images")
        }
    }

    /// 600 queries (chunks of 256, 256, 88) over 3 ranks: every rank returns the hit rates of one process.
    func testKNNQueriesDealtOverRanksEqualOneProcess() throws {
        var rng = RNG(seed: 8)
        func set(_ n: Int) -> FeatureSet {
            FeatureSet(dim: 4, values: (0..<(n * 4)).map { _ in Float(rng.normal()) }, labels: (0..<n).map { _ in rng.int(below: 3) })
        }
        let train = set(50), test = set(600)
        let one = try KNN.classify(train: train, test: test, classes: 3, k: 5, compute: .serial)
        XCTAssertGreaterThan(one.top1, 0); XCTAssertLessThan(one.top1, 100)
        for r in try ThreadWorld.run(size: 3, { try KNN.classify(train: train, test: test, classes: 3, k: 5, compute: .serial, communicator: $0) }) {
            XCTAssertEqual(r.top1, one.top1); XCTAssertEqual(r.top5, one.top5); XCTAssertEqual(r.testCount, 600)
        }
    }

    /// Fine-tuning 2 ranks × batch 8 against 1 process × batch 16, mixup and CutMix off: the same loss curve up to
    /// the order of the gradient sum, and the test evaluation (batches of 5 dealt over the ranks) gives the same
    /// top-1 and top-5.
    func testFinetuneOverRanksEqualsOneProcessWithTheGlobalBatch() throws {
        var c = tinyFinetuneConfig()
        c.method.mixup = 0; c.method.cutmix = 0
        c.data.workers = 0
        func finetune(_ world: any Communicator, batch: Int) throws -> ([Double], EvalResult) {
            var cfg = c; cfg.optim.batchSize = batch
            let (train, test) = try DownstreamData.load(cfg.data, channels: 1, imgSize: 8, seed: cfg.run.seed, compute: .serial)
            let t = try FinetuneTrainer(config: cfg, train: train, test: test, compute: .serial, communicator: world)
            var losses: [Double] = []
            try t.run(runDirectory: tempDir(), progress: Progress()) { losses.append($1) }
            return (losses, t.evaluate(batchSize: 5))
        }
        let (lossesOne, evalOne) = try finetune(SingleProcess(), batch: 16)
        XCTAssertEqual(lossesOne.count, 8)
        for (rank, (losses, eval)) in try ThreadWorld.run(size: 2, { try finetune($0, batch: 8) }).enumerated() {
            XCTAssertEqual(losses.count, 8)
            for (a, b) in zip(losses, lossesOne) { XCTAssertEqual(a, b, accuracy: 1e-5 * abs(b), "rank \(rank)") }
            XCTAssertEqual(eval.top1, evalOne.top1); XCTAssertEqual(eval.top5, evalOne.top5)
            XCTAssertEqual(eval.loss, evalOne.loss, accuracy: 1e-5 * abs(evalOne.loss))
        }
    }
}
