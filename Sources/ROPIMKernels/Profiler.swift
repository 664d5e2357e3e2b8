// Wall-clock totals per op family for `ropim bench`. Off by default: a disabled `measure` is one
// branch. Measure only top-level ops on the calling thread (never inside ComputeContext loops).

import Dispatch

public enum Profiler {
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) public private(set) static var seconds: [String: Double] = [:]

    @inline(__always)
    public static func measure<T>(_ family: String, _ body: () throws -> T) rethrows -> T {
        guard enabled else { return try body() }
        let t0 = DispatchTime.now().uptimeNanoseconds
        defer { seconds[family, default: 0] += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9 }
        return try body()
    }

    public static func reset() { seconds = [:] }
}
