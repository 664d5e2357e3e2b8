// N ranks as N threads of one test process: a `Communicator` whose collectives meet on a shared board, so the
// data-parallel paths of the downstream code (dealing, gathering, summing) run in a unit test with any N,
// without mpirun (the real thing is tested end to end in RopimCLITests/DataParallelTests).

import Foundation
import ROPIMDistributed

/// Where the ranks of one `ThreadWorld` meet: each collective is one exchange of every rank's bytes.
final class ThreadBoard: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var slots: [[UInt8]?]
    private var arrived = 0, generation = 0
    private var result: [[UInt8]] = []

    init(size: Int) { self.size = size; slots = Array(repeating: nil, count: size) }

    /// Every rank's `data`, in rank order, once all ranks have called it.
    func exchange(rank: Int, _ data: [UInt8]) -> [[UInt8]] {
        condition.lock(); defer { condition.unlock() }
        let mine = generation
        slots[rank] = data; arrived += 1
        if arrived == size {
            result = slots.map { $0! }
            slots = Array(repeating: nil, count: size); arrived = 0; generation += 1
            condition.broadcast()
        } else {
            while generation == mine { condition.wait() }
        }
        return result   // no rank can start the next exchange before this one has read it
    }
}

final class ThreadWorld: Communicator {
    let rank: Int
    let board: ThreadBoard
    var worldSize: Int { board.size }
    init(rank: Int, board: ThreadBoard) { self.rank = rank; self.board = board }

    func allReduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        let all = board.exchange(rank: rank, Array(UnsafeRawBufferPointer(start: buffer, count: count * 4)))
        for i in 0..<count { buffer[i] = 0 }
        for part in all { part.withUnsafeBytes { p in for i in 0..<count { buffer[i] += p.load(fromByteOffset: 4 * i, as: Float.self) } } }
    }

    func allReduce(_ values: inout [Double], _ op: ReduceOp) {
        let all = board.exchange(rank: rank, values.withUnsafeBytes { Array($0) }).map { $0.withUnsafeBytes { Array($0.bindMemory(to: Double.self)) } }
        values = (0..<values.count).map { i in
            let column = all.map { $0[i] }
            switch op {
            case .sum: return column.reduce(0, +)
            case .max: return column.max()!
            case .min: return column.min()!
            }
        }
    }

    func broadcast(_ buffer: UnsafeMutableRawPointer, bytes: Int, root: Int) {
        let all = board.exchange(rank: rank, Array(UnsafeRawBufferPointer(start: buffer, count: bytes)))
        if bytes > 0 { all[root].withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: bytes) } }
    }

    func allGather(_ data: [UInt8]) -> [[UInt8]] { board.exchange(rank: rank, data) }

    func abort(code: Int32) -> Never { fatalError("rank \(rank) aborted with \(code)") }

    /// Runs `body(rank's world)` on `size` threads at once and returns their results in rank order.
    static func run<T>(size: Int, _ body: @escaping (ThreadWorld) throws -> T) throws -> [T] {
        let board = ThreadBoard(size: size), results = RankResults<T>(size), done = DispatchGroup()
        for r in 0..<size {
            done.enter()
            let t = Thread {
                let out = Result { try body(ThreadWorld(rank: r, board: board)) }
                results.lock.lock(); results.values[r] = out; results.lock.unlock()
                done.leave()
            }
            t.stackSize = 8 << 20
            t.start()
        }
        done.wait()
        return try results.values.map { try $0!.get() }
    }
}

/// What each rank's thread returned.
final class RankResults<T>: @unchecked Sendable {
    let lock = NSLock()
    var values: [Result<T, Error>?]
    init(_ n: Int) { values = Array(repeating: nil, count: n) }
}
