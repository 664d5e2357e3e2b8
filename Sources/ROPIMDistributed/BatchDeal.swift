// How the ranks share an evaluation pass (feature extraction, k-NN queries, the fine-tuning test split):
// the items are cut into the batches one process would use, and batch b goes to rank b mod N. Each batch
// is then computed exactly as one process computes it, so the ranks' results equal the single-process ones
// bit for bit (with the same threads per rank), and after each round of N batches the ranks' results,
// taken in rank order, are the next N batches in order (docs/DISTRIBUTED.md).

/// The batches of `count` items in batches of `batchSize` (batch b: items b·batchSize ..< min((b+1)·batchSize,
/// count), the last one possibly smaller) dealt round-robin over `worldSize` ranks: in round k, rank r takes
/// batch k·worldSize + r.
public struct BatchDeal: Equatable, Sendable {
    public let count: Int
    public let batchSize: Int
    public let rank: Int
    public let worldSize: Int

    public init(count: Int, batchSize: Int, rank: Int = 0, worldSize: Int = 1) {
        precondition(count >= 0 && batchSize > 0 && worldSize >= 1 && (0..<worldSize).contains(rank),
                     "deal of \(count) items in batches of \(batchSize) to rank \(rank) of \(worldSize)")
        self.count = count; self.batchSize = batchSize; self.rank = rank; self.worldSize = worldSize
    }

    /// `count` items dealt to `communicator`'s ranks.
    public init(count: Int, batchSize: Int, communicator: any Communicator) {
        self.init(count: count, batchSize: batchSize, rank: communicator.rank, worldSize: communicator.worldSize)
    }

    /// Batches in all (what one process runs).
    public var batches: Int { (count + batchSize - 1) / batchSize }

    /// Rounds of `worldSize` batches (the last may leave ranks without a batch).
    public var rounds: Int { (batches + worldSize - 1) / worldSize }

    /// The items of batch `b`.
    public func items(ofBatch b: Int) -> Range<Int> { b * batchSize ..< Swift.min((b + 1) * batchSize, count) }

    /// This rank's items in `round`, or nil when the batches ran out before this rank.
    public func mine(round: Int) -> Range<Int>? {
        let b = round * worldSize + rank
        return b < batches ? items(ofBatch: b) : nil
    }

    /// Every batch of this rank, in order.
    public var mine: [Range<Int>] { (0..<rounds).compactMap { mine(round: $0) } }
}
