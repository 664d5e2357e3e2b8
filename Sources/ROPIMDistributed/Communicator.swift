// The processes of a data-parallel run — DDP's process group: each process (rank) trains on its share
// of every global batch, and the collectives below keep them in step (docs/DISTRIBUTED.md).
// `SingleProcess` is the world of one (every plain `ropim` run); `MPIWorld` is Open MPI under `mpirun`.
// Only the main thread calls a communicator.

import Foundation

/// An elementwise reduction over ranks.
public enum ReduceOp: Sendable { case sum, max, min }

/// Rank, world size and the collectives of data-parallel training. Every rank must make the same calls in
/// the same order; a collective returns when every rank has joined it.
public protocol Communicator: AnyObject {
    /// This process: 0 ..< `worldSize`. Rank 0 alone writes files.
    var rank: Int { get }
    /// Processes in the run (1 for a plain run).
    var worldSize: Int { get }
    /// Sums `count` floats over all ranks, in place; every rank gets the same bits.
    func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int)
    /// Reduces `values` elementwise over all ranks, in place (same length on every rank).
    func allReduce(_ values: inout [Double], _ op: ReduceOp)
    /// Replaces `bytes` bytes at `buffer` on every rank with rank `root`'s.
    func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int)
    /// Every rank's `data` (any lengths), in rank order.
    func allGather(_ data: [UInt8]) -> [[UInt8]]
    /// Ends the whole job now with exit status `code`: one rank failing must not leave the others waiting.
    func abort(code: Int32) -> Never
}

extension Communicator {
    public var isMain: Bool { rank == 0 }

    /// Rank `root`'s byte array on every rank (its length first, then the bytes).
    public func broadcast(_ data: inout [UInt8], root: Int = 0) {
        var count = [Double(data.count)]
        if worldSize == 1 { return }
        withUnsafeMutableBytes(of: &count[0]) { broadcast($0.baseAddress!, bytes: 8, root: root) }
        if rank != root { data = [UInt8](repeating: 0, count: Int(count[0])) }
        data.withUnsafeMutableBytes { if let base = $0.baseAddress { broadcast(base, bytes: $0.count, root: root) } }
    }

    /// Rank `root`'s string on every rank.
    public func broadcast(_ text: String, root: Int = 0) -> String {
        var bytes = Array(text.utf8)
        broadcast(&bytes, root: root)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Rank `root`'s `count` floats on every rank.
    public func broadcast(_ buffer: UnsafeMutablePointer<Float>, count: Int, root: Int = 0) {
        broadcast(UnsafeMutableRawPointer(buffer), bytes: count * MemoryLayout<Float>.stride, root: root)
    }

    /// Every rank's floats, concatenated in rank order.
    public func allGather(_ values: [Float]) -> [Float] {
        if worldSize == 1 { return values }
        let bytes = values.withUnsafeBytes { Array($0) }
        return allGather(bytes).flatMap { part in
            part.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
    }

    /// Every rank's integers, concatenated in rank order.
    public func allGather(_ values: [Int]) -> [Int] {
        if worldSize == 1 { return values }
        let bytes = values.map(Int64.init).withUnsafeBytes { Array($0) }
        return allGather(bytes).flatMap { part in
            part.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Int($0) } }
        }
    }

    /// True on every rank when `flag` is true on any.
    public func any(_ flag: Bool) -> Bool {
        if worldSize == 1 { return flag }
        var v = [flag ? 1.0 : 0.0]
        allReduce(&v, .max)
        return v[0] > 0
    }
}

/// The world of one process: every collective is the identity.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {}
    public func allReduce(_ values: inout [Double], _ op: ReduceOp) {}
    public func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) {}
    public func allGather(_ data: [UInt8]) -> [[UInt8]] { [data] }
    public func abort(code: Int32) -> Never { exit(code) }
}

/// Why a data-parallel run cannot start or go on.
public struct DistributedError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public enum Distributed {
    /// Environment variables that a launcher sets in each process it starts (Open MPI's mpirun; PMIx and
    /// PMI launchers such as srun). Without any, the run is a plain single process and MPI is not touched.
    static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"]

    /// Whether this process was started by an MPI launcher.
    public static var launched: Bool {
        let env = ProcessInfo.processInfo.environment
        return launcherVariables.contains { env[$0] != nil }
    }

    /// The world this process belongs to: MPI's when started by `mpirun` (MPI is initialized here, once),
    /// else a `SingleProcess`. Throws when launched by mpirun but built without MPI.
    public static func world() throws -> any Communicator {
        guard launched else { return SingleProcess() }
        #if canImport(CMPI)
        return MPIWorld.shared
        #else
        throw DistributedError("started by an MPI launcher, but this ropim was built without MPI (Open MPI's libopenmpi-dev on Linux); run it without mpirun")
        #endif
    }

    /// Ends MPI cleanly before a normal exit (every rank must; a no-op for a single process).
    public static func finalize() {
        #if canImport(CMPI)
        if launched { MPIWorld.shared.finalize() }
        #endif
    }
}
