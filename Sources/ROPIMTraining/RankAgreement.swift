// Checks that the ranks of a data-parallel run agree: on what they run (binary, config, data) before the
// first step, and on their weights at every checkpoint. Every rank calls these at the same points; all of
// them get the same answer, so they stop together with the same message instead of one hanging.

import Foundation
import ROPIMDistributed
import ROPIMNN

public enum RankAgreement {
    /// Stops every rank when the ranks disagree on any of `facts` (name → value; the same names on every
    /// rank): e.g. the ropim version, the resolved config, the dataset's size. The error names each fact that
    /// differs and which ranks hold which value.
    public static func check(_ facts: [(name: String, value: String)], communicator: any Communicator) throws {
        guard communicator.worldSize > 1 else { return }
        let mine = facts.map { $0.name + "\u{1F}" + $0.value }.joined(separator: "\u{1E}")
        let all = communicator.allGather(Array(mine.utf8)).map { String(decoding: $0, as: UTF8.self).components(separatedBy: "\u{1E}") }
        var problems: [String] = []
        for (i, fact) in facts.enumerated() {
            var holders: [String: [Int]] = [:]
            for (rank, rankFacts) in all.enumerated() {
                let value = i < rankFacts.count ? String(rankFacts[i].split(separator: "\u{1F}", maxSplits: 1).last ?? "") : "(missing)"
                holders[value, default: []].append(rank)
            }
            guard holders.count > 1 else { continue }
            let shown = holders.sorted { $0.value[0] < $1.value[0] }.map { value, ranks in
                let short = value.count > 80 ? String(value.prefix(77)) + "…" : value
                return "rank\(ranks.count > 1 ? "s" : "") \(ranks.map(String.init).joined(separator: ",")): \(short.debugDescription)"
            }
            problems.append("\(fact.name) differs — " + shown.joined(separator: "; "))
        }
        guard problems.isEmpty else {
            throw DistributedError("the \(communicator.worldSize) ranks disagree, so they cannot train together: "
                + problems.joined(separator: "; ")
                + ". Launch every rank with the same ropim build, the same arguments and the same data (a shared or identical copy).")
        }
    }

    /// Stops every rank when their weights differ (sum and sum of squares in Double, compared exactly): a
    /// rank that drifted would otherwise go on training a different model unnoticed.
    public static func checkWeights(_ params: ParameterStore, step: Int, communicator: any Communicator) throws {
        guard communicator.worldSize > 1 else { return }
        let (sum, squares) = weightSums(params)
        var high = [sum, squares], low = [sum, squares]
        communicator.allReduce(&high, .max)
        communicator.allReduce(&low, .min)
        guard high == low else {
            throw DistributedError("at step \(step) the ranks hold different weights (sum \(low[0]) … \(high[0])); the run is not consistent. Resume it from its last checkpoint with the same launch.")
        }
    }

    /// Sum and sum of squares of every weight, in Double: a fingerprint of the weights that is cheap to compare.
    public static func weightSums(_ params: ParameterStore) -> (sum: Double, squares: Double) {
        var sum = 0.0, squares = 0.0
        let v = params.values.data
        for i in 0..<params.count { let x = Double(v[i]); sum += x; squares += x * x }
        return (sum, squares)
    }
}
