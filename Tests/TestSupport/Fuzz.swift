// Random edits of files for the fuzz tests of the formats ropim reads (issue 14): a JSON tree edited where
// a reader trusts it (a value set to an extreme or a wrong type, a key or list item removed or repeated),
// raw bytes edited (bit flips, truncation), and the loop that checks each edited file gives a clean error or
// a well-formed result. Seeded: a failure reproduces. ROPIM_FUZZ_SEED=<n> changes the seeds and
// ROPIM_FUZZ_SCALE=<k> runs k times the trials, as for ROPIMDataTests' fuzz tests.

import Foundation
import XCTest
import ROPIMKernels

public enum FuzzSettings {
    public static let scale = Int(ProcessInfo.processInfo.environment["ROPIM_FUZZ_SCALE"] ?? "") ?? 1
    public static let seed = UInt64(ProcessInfo.processInfo.environment["ROPIM_FUZZ_SEED"] ?? "") ?? 14
}

/// Edits of a JSON tree as JSONSerialization reads it (dictionaries, arrays, NSNumber, String, NSNull).
public struct JSONMutator {
    public var rng: RNG
    public init(rng: RNG) { self.rng = rng }

    /// Values that unchecked readers trip on: signs, Int's ends, products that overflow, fractions, other types.
    public static let extremes: [Any] = [-1, 0, 1, 2, 3, 5, 1 << 31, 1 << 61, 1 << 62, Int.max, Int.min, -(1 << 62), 1e308, -1e308, 0.5,
                                         1e-30, "six", "", [Any](), [-1], [1 << 62, 8], [String: Any](), NSNull(), true]

    /// 1–3 edits, each at a random place in the tree.
    public mutating func mutate(_ root: Any) -> Any {
        var tree = root
        for _ in 0..<1 + rng.int(below: 3) { tree = edit(tree) }
        return tree
    }

    /// Descends to a random child, or edits here: a key removed, an item removed or repeated, a value replaced.
    mutating func edit(_ node: Any) -> Any {
        if var object = node as? [String: Any], !object.isEmpty {
            let keys = object.keys.sorted()   // a fixed order: the same seed gives the same edits
            let key = keys[rng.int(below: keys.count)]
            switch rng.int(below: 6) {
            case 0: object[key] = nil
            case 1: object[key] = pick()
            default: object[key] = edit(object[key]!)
            }
            return object
        }
        if var list = node as? [Any], !list.isEmpty {
            let i = rng.int(below: list.count)
            switch rng.int(below: 6) {
            case 0: list.remove(at: i)
            case 1: list.insert(list[i], at: i)
            case 2: list[i] = pick()
            default: list[i] = edit(list[i])
            }
            return list
        }
        if let n = node as? Int, !(node is Bool), rng.bernoulli(0.4) {
            return [n &- 1, n &+ 1, 0 &- n, n &* 2, n &* 1_000_000][rng.int(below: 5)]   // near the valid value
        }
        return pick()
    }

    mutating func pick() -> Any { Self.extremes[rng.int(below: Self.extremes.count)] }

    /// JSON text of `tree` with sorted keys (reproducible).
    public static func text(_ tree: Any) -> Data {
        (try? JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys, .fragmentsAllowed])) ?? Data("null".utf8)
    }
}

/// Edits of raw bytes: a bit flipped, a byte set, the end cut off.
public struct ByteMutator {
    public var rng: RNG
    public init(rng: RNG) { self.rng = rng }

    public mutating func mutate(_ input: [UInt8], within region: Range<Int>? = nil) -> [UInt8] {
        var b = input
        let r = region.map { $0.clamped(to: 0..<b.count) } ?? 0..<b.count
        guard !r.isEmpty else { return b }
        switch rng.int(below: 3) {
        case 0: b[r.lowerBound + rng.int(below: r.count)] ^= UInt8(1 << rng.int(below: 8))
        case 1: b[r.lowerBound + rng.int(below: r.count)] = UInt8(rng.int(below: 256))
        default: b.removeSubrange((r.lowerBound + rng.int(below: r.count))...)
        }
        return b
    }
}

/// What a fuzz run saw.
public struct FuzzOutcome {
    public var accepted = 0, rejected = 0
    /// One line per trial that threw an error that is not clean (the wrong type, or not naming the file).
    public var failures: [String] = []
    public var seconds = 0.0

    /// Every trial clean; both outcomes reached (else the edits miss the checks, or even the unedited file
    /// fails); no hang (the bound is far above the time a run takes, for a shared, busy machine).
    public func check(_ name: String, seconds bound: Double, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssert(failures.isEmpty, "\(name): \(failures.count) trials did not end cleanly:\n" + failures.prefix(10).joined(separator: "\n"),
                  file: file, line: line)
        XCTAssertGreaterThan(accepted, 0, "\(name): even the unedited inputs failed", file: file, line: line)
        XCTAssertGreaterThan(rejected, 0, "\(name): no edit was rejected; the fuzzer is not reaching the checks", file: file, line: line)
        XCTAssertLessThan(seconds, bound * Double(FuzzSettings.scale), "\(name): too slow", file: file, line: line)
    }
}

/// `trials` × ROPIM_FUZZ_SCALE trials: `make` writes trial `i`'s input (the unedited file on every tenth trial)
/// and returns the path to read; `read` must return normally, or throw an error that `clean` accepts.
/// A trial that traps ends the test process: the path of its input is printed first.
public func fuzz(_ name: String, trials: Int, stream: UInt64, make: (inout RNG, _ edit: Bool) throws -> String,
                 read: (String) throws -> Void, clean: (Error, String) -> Bool) rethrows -> FuzzOutcome {
    var rng = RNG(seed: FuzzSettings.seed).derived(stream: stream)
    var out = FuzzOutcome()
    let start = Date()
    print("fuzz \(name): seed \(FuzzSettings.seed), \(trials * FuzzSettings.scale) trials; an input that traps stays where the trial wrote it")
    for trial in 0..<trials * FuzzSettings.scale {
        let path = try make(&rng, trial % 10 != 0)
        do {
            try read(path)
            out.accepted += 1
        } catch {
            if clean(error, path) { out.rejected += 1 } else { out.failures.append("trial \(trial) (\(path)): \(error)") }
        }
    }
    out.seconds = Date().timeIntervalSince(start)
    print("fuzz \(name): \(out.accepted) accepted, \(out.rejected) rejected cleanly, \(out.failures.count) not cleanly, in "
        + String(format: "%.1f s", out.seconds))
    return out
}
