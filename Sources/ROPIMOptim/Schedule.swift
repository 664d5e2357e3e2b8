// Per-iteration learning rate: linear warm-up from warmupLR to the peak, then cosine to minLR over the
// remaining steps (timm's CosineLRScheduler with a warm-up prefix, t_in_epochs = False).

import Foundation

public struct CosineSchedule: Equatable, Sendable {
    public var peak: Double
    public var warmupLR: Double
    public var minLR: Double
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(peak: Double, warmupLR: Double, minLR: Double, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak; self.warmupLR = warmupLR; self.minLR = minLR
        self.warmupSteps = warmupSteps; self.totalSteps = totalSteps
    }

    /// A warning when the warm-up is longer than the whole run: the LR then never reaches the peak (easy to
    /// hit with a short `--epochs` and a preset's 5-epoch warm-up). nil when the schedule is fine.
    public var warning: String? {
        guard warmupSteps > totalSteps else { return nil }
        return "warning: the warm-up (\(warmupSteps) steps) is longer than the whole run (\(totalSteps) steps), so the learning rate never reaches its peak; lower optim.warmup_epochs (e.g. --set optim.warmup_epochs=0.5)"
    }

    /// Learning rate for optimizer step `t` (0-based).
    public func lr(at t: Int) -> Double {
        if t < warmupSteps {
            return warmupLR + (peak - warmupLR) * Double(t) / Double(warmupSteps)
        }
        let span = Swift.max(totalSteps - warmupSteps, 1)
        let progress = Swift.min(Double(t - warmupSteps) / Double(span), 1)
        return minLR + 0.5 * (peak - minLR) * (1 + cos(Double.pi * progress))
    }
}
