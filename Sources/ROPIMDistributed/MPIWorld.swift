// Open MPI's MPI_COMM_WORLD as a `Communicator`. Initialized on first use with MPI_THREAD_FUNNELED: only
// the main thread calls MPI (the training loop's collectives); compute and loader threads never do.
// Errors inside MPI end the job (MPI's default handler), and `mpirun` then stops every rank and names the
// one that failed, so a dead rank never leaves the others hanging.

#if canImport(CMPI)
import CMPI
import Foundation

public final class MPIWorld: Communicator {
    public let rank: Int
    public let worldSize: Int
    private var finalized = false

    /// The one world of this process (MPI can be initialized once).
    nonisolated(unsafe) public static let shared = MPIWorld()

    private init() {
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(ropim_mpi_comm_world(), &r)
        MPI_Comm_size(ropim_mpi_comm_world(), &n)
        rank = Int(r); worldSize = Int(n)
    }

    /// MPI counts are 32-bit: big buffers go in pieces of at most this many elements.
    static let piece = 1 << 28

    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        var done = 0
        while done < count {
            let n = Swift.min(MPIWorld.piece, count - done)
            MPI_Allreduce(ropim_mpi_in_place(), buffer + done, Int32(n), ropim_mpi_float(), ropim_mpi_sum(), ropim_mpi_comm_world())
            done += n
        }
    }

    public func allReduce(_ values: inout [Double], _ op: ReduceOp) {
        let mpiOp = op == .sum ? ropim_mpi_sum() : op == .max ? ropim_mpi_max() : ropim_mpi_min()
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer {
            _ = MPI_Allreduce(ropim_mpi_in_place(), $0.baseAddress, n, ropim_mpi_double(), mpiOp, ropim_mpi_comm_world())
        }
    }

    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) {
        var done = 0
        while done < bytes {
            let n = Swift.min(MPIWorld.piece, bytes - done)
            MPI_Bcast(buffer + done, Int32(n), ropim_mpi_byte(), Int32(root), ropim_mpi_comm_world())
            done += n
        }
    }

    public func allGather(_ data: [UInt8]) -> [[UInt8]] {
        var counts = [Int64](repeating: 0, count: worldSize)
        var mine = Int64(data.count)
        MPI_Allgather(&mine, 1, ropim_mpi_int64(), &counts, 1, ropim_mpi_int64(), ropim_mpi_comm_world())
        let total = counts.reduce(0, +)
        precondition(total < Int64(Int32.max), "allGather of \(total) bytes: more than one MPI call carries")
        var displacements = [Int32](repeating: 0, count: worldSize)
        for r in 1..<Swift.max(worldSize, 1) { displacements[r] = displacements[r - 1] + Int32(counts[r - 1]) }
        var received = [UInt8](repeating: 0, count: Int(total))
        let counts32 = counts.map { Int32($0) }
        data.withUnsafeBufferPointer { send in
            _ = MPI_Allgatherv(send.baseAddress, Int32(data.count), ropim_mpi_byte(), &received, counts32, displacements,
                               ropim_mpi_byte(), ropim_mpi_comm_world())
        }
        return (0..<worldSize).map { r in Array(received[Int(displacements[r])..<Int(displacements[r]) + Int(counts[r])]) }
    }

    public func abort(code: Int32) -> Never {
        fflush(stdout); fflush(stderr)
        MPI_Abort(ropim_mpi_comm_world(), code)
        exit(code)
    }

    /// MPI_Finalize, once.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        MPI_Finalize()
    }
}
#endif
