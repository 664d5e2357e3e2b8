import XCTest
@testable import ROPIMDistributed

/// The world of one: every collective is the identity, so a plain run is exactly a single-process run.
/// (Multi-rank behaviour is tested end to end under mpirun in RopimCLITests/DataParallelTests.)
final class CommunicatorTests: XCTestCase {
    func testSingleProcessCollectivesAreTheIdentity() {
        let world: any Communicator = SingleProcess()
        XCTAssertEqual(world.rank, 0); XCTAssertEqual(world.worldSize, 1); XCTAssertTrue(world.isMain)
        var floats: [Float] = [1, -2, 3.5]
        floats.withUnsafeMutableBufferPointer { world.allReduceSum($0.baseAddress!, count: 3) }
        XCTAssertEqual(floats, [1, -2, 3.5])
        var doubles = [0.25, 7]
        world.allReduce(&doubles, .max)
        XCTAssertEqual(doubles, [0.25, 7])
        var bytes: [UInt8] = [9, 8, 7]
        world.broadcast(&bytes)
        XCTAssertEqual(bytes, [9, 8, 7])
        XCTAssertEqual(world.broadcast("run-dir"), "run-dir")
        XCTAssertEqual(world.allGather([Float(1), 2]), [1, 2])
        XCTAssertEqual(world.allGather([5, -6]), [5, -6])
        XCTAssertEqual(world.allGather([UInt8(1)]), [[1]])
        XCTAssertTrue(world.any(true)); XCTAssertFalse(world.any(false))
    }

    /// Without a launcher's variables the world is a single process and MPI is never initialized.
    func testPlainProcessIsNotLaunched() throws {
        for v in Distributed.launcherVariables { XCTAssertNil(ProcessInfo.processInfo.environment[v], "test run under \(v)") }
        XCTAssertFalse(Distributed.launched)
        XCTAssertTrue(try Distributed.world() is SingleProcess)
    }

    /// Dealt round-robin, the ranks' batches are one process's batches: disjoint, covering every item once, each
    /// the single-process batch, and round by round in rank order they are the batches in order.
    func testBatchDealPartitionsTheSingleProcessBatches() {
        for (count, size) in [(0, 4), (1, 4), (13, 2), (12, 4), (600, 256), (7, 10)] {
            let one = BatchDeal(count: count, batchSize: size).mine
            XCTAssertEqual(one.count, (count + size - 1) / size)
            XCTAssertEqual(one.flatMap { Array($0) }, Array(0..<count), "one process: every item once, in order")
            XCTAssertTrue(one.dropLast().allSatisfy { $0.count == size })
            for ranks in 1...4 {
                let deals = (0..<ranks).map { BatchDeal(count: count, batchSize: size, rank: $0, worldSize: ranks) }
                let rounds = deals[0].rounds
                XCTAssertEqual(rounds, (one.count + ranks - 1) / ranks)
                let gathered = (0..<rounds).flatMap { round in deals.compactMap { $0.mine(round: round) } }
                XCTAssertEqual(gathered, one, "\(count) items, batches of \(size), \(ranks) ranks")
                XCTAssertEqual(deals.map { $0.mine.count }.reduce(0, +), one.count)
                for d in deals { XCTAssertTrue(d.mine.allSatisfy { one.contains($0) }) }
            }
        }
    }
}
