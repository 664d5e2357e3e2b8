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
}
