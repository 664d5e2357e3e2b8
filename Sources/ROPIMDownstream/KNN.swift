// Weighted k-nearest-neighbour classification on frozen features (DINO's protocol): features are
// L2-normalized, the k most cosine-similar training features vote for their class with weight
// exp(similarity / T), and the class with the largest vote wins.

import Foundation
import ROPIMDistributed
import ROPIMKernels

public struct KNNResult: Sendable {
    public var top1: Double      // percent
    public var top5: Double      // percent
    public var k: Int
    public var temperature: Double
    public var trainCount: Int
    public var testCount: Int
}

public enum KNN {
    /// Rows scaled to unit L2 norm (zero rows stay zero).
    public static func normalized(_ f: FeatureSet) -> [Float] {
        var v = f.values
        let d = f.dim
        for i in 0..<f.count {
            var s: Float = 0
            for j in 0..<d { s += v[i * d + j] * v[i * d + j] }
            let inv = s > 0 ? 1 / s.squareRoot() : 0
            for j in 0..<d { v[i * d + j] *= inv }
        }
        return v
    }

    /// Test queries per similarity product ([chunk, Ntrain] at a time).
    public static let chunk = 256

    /// Classifies every test feature against the training features (memory bank).
    /// Data-parallel (`communicator` of N ranks, each holding both whole sets): the chunks of `chunk` queries are
    /// dealt round-robin (`BatchDeal`), each rank classifies its chunks, and the hit counts are summed over the
    /// ranks: the same result as one process.
    public static func classify(train: FeatureSet, test: FeatureSet, classes: Int, k: Int = 20, temperature: Double = 0.07,
                                compute: ComputeContext, communicator: any Communicator = SingleProcess()) throws -> KNNResult {
        guard train.dim == test.dim else { throw DownstreamError("k-NN: train features have \(train.dim) dims, test \(test.dim)") }
        guard train.count > 0, test.count > 0 else { throw DownstreamError("k-NN needs at least one train and one test image") }
        if let bad = (train.labels + test.labels).first(where: { $0 < 0 || $0 >= classes }) {
            throw DownstreamError("k-NN: label \(bad) is outside 0..<\(classes) classes")
        }
        let kk = Swift.min(k, train.count), d = train.dim
        let bank = normalized(train), queries = normalized(test)
        let sims = Tensor(shape: [chunk, train.count])
        var hit1 = 0.0, hit5 = 0.0
        bank.withUnsafeBufferPointer { bankP in
            queries.withUnsafeBufferPointer { qP in
                for part in BatchDeal(count: test.count, batchSize: chunk, communicator: communicator).mine {
                    let start = part.lowerBound, rows = part.count
                    // sims [rows, Ntrain] = Q · Bankᵀ
                    compute.gemm(transA: false, transB: true, m: rows, n: train.count, k: d, a: qP.baseAddress! + start * d, lda: d,
                                 b: bankP.baseAddress!, ldb: d, c: sims.data, ldc: train.count)
                    var results = [(Bool, Bool)](repeating: (false, false), count: rows)
                    let simsData = sims.data, ntrain = train.count, labels = train.labels
                    results.withUnsafeMutableBufferPointer { res in
                        compute.forEach(rows) { r in
                            let row = simsData + r * ntrain
                            // Top-k by insertion into a small sorted list (descending).
                            var topS = [Float](repeating: -.infinity, count: kk), topI = [Int](repeating: -1, count: kk)
                            for j in 0..<ntrain {
                                let s = row[j]
                                if s <= topS[kk - 1] { continue }
                                var p = kk - 1
                                while p > 0 && topS[p - 1] < s { topS[p] = topS[p - 1]; topI[p] = topI[p - 1]; p -= 1 }
                                topS[p] = s; topI[p] = j
                            }
                            var votes = [Double](repeating: 0, count: classes)
                            for i in 0..<kk where topI[i] >= 0 { votes[labels[topI[i]]] += Foundation.exp(Double(topS[i]) / temperature) }
                            let y = test.labels[start + r]
                            var higher = 0
                            for c in 0..<classes where votes[c] > votes[y] || (votes[c] == votes[y] && c < y) { higher += 1 }
                            res[r] = (higher == 0 && votes[y] > 0, higher < 5 && votes[y] > 0)
                        }
                    }
                    for (a, b) in results { if a { hit1 += 1 }; if b { hit5 += 1 } }
                }
            }
        }
        var hits = [hit1, hit5]
        communicator.allReduce(&hits, .sum)
        return KNNResult(top1: 100 * hits[0] / Double(test.count), top5: 100 * hits[1] / Double(test.count),
                         k: kk, temperature: temperature, trainCount: train.count, testCount: test.count)
    }
}
