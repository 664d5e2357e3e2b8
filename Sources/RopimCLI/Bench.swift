// `ropim bench`: speed of the pre-training step for a preset, batch and thread count.

import ArgumentParser
import Foundation
import ROPIMKernels
import ROPIMTraining

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time the pre-training step (and forward, and each op family) on a synthetic batch.",
        discussion: """
        Reports images/s, achieved GFLOP/s (analytic count of the matrix products), the fraction of this \
        machine's FMA peak (measured by a small probe), peak RSS, and seconds per step by op family. Median of \
        --steps timed steps after --warmup steps.

        Examples:
          ropim bench                                           # fmnist preset, batch 128
          ropim bench --preset vit-tiny --batch-size 64 --json
          ropim bench --preset cifar --batch-size 256 --threads 2
          ropim bench --preset vit-tiny --batch-size 64 --gemm  # GFLOP/s of each matrix product
        """)

    @OptionGroup(title: "Config") var source: PresetOptions
    @OptionGroup var threadFlags: ThreadOptions
    @Option(help: "Images per step (optim.batch_size).") var batchSize: Int?
    @OptionGroup(title: "Model and method") var step: ModelMethodOptions
    @Option(help: "Timed steps (median reported).") var steps = 5
    @Option(help: "Untimed warm-up steps.") var warmup = 2
    @Flag(help: "Print one JSON object instead of the table.") var json = false
    @Flag(help: "Instead of the step, time each matrix product of the step on its own (linear forward, dX, dW; attention's batched head products).") var gemm = false

    func validate() throws {
        if steps < 1 { throw ValidationError("--steps must be at least 1, got \(steps)") }
        if warmup < 0 { throw ValidationError("--warmup must be ≥ 0, got \(warmup)") }
    }

    /// preset → --config → --set → flags, validated.
    func resolve() throws -> PretrainConfig {
        var c = try source.resolve()
        override(&c.optim.batchSize, with: batchSize)
        override(&c.run.threads, with: threadFlags.threads)
        step.apply(to: &c)
        try c.validate()
        return c
    }

    func run() throws {
        let c = try resolve()
        let compute = ThreadOptions.context(c.run.threads)
        if gemm { return try printGEMMShapes(c, compute: compute) }
        let r = try ROPIMTraining.Bench.run(config: c, preset: source.preset.rawValue, steps: steps, warmup: warmup, compute: compute)
        if json { return try printJSON(r) }
        print(String(format: "%@ %dpx/p%d ViT %d×%d (K=%d), batch %d, %d threads, %@",
                     r.preset, r.imgSize, r.patchSize, r.embedDim, r.depth, r.tokens, r.batchSize, r.threads, r.corruption))
        print(String(format: "train step  %8.1f img/s  (%.3f s/step, %.2f GFLOP/img, %.0f GFLOP/s = %.0f %% of the %.0f GFLOP/s peak)",
                     r.imagesPerSecond, r.stepSeconds, r.gflopPerImage, r.gflops, 100 * r.peakFraction, r.peakGflops))
        print(String(format: "forward     %8.1f img/s  (%.3f s)", r.forwardImagesPerSecond, r.forwardSeconds))
        print(String(format: "peak RSS    %8.1f MiB", Double(r.peakRssBytes) / 1_048_576))
        print("per step by op family:")
        for (k, v) in r.opSeconds.sorted(by: { $0.value > $1.value }) {
            print("  " + k.padding(toLength: 12, withPad: " ", startingAt: 0)
                  + String(format: "%7.3f s  %5.1f %%", v, 100 * v / r.opSeconds.values.reduce(0, +)))
        }
    }

    private func printGEMMShapes(_ c: PretrainConfig, compute: ComputeContext) throws {
        let shapes = ROPIMTraining.Bench.runGEMMShapes(config: c, repeats: steps, compute: compute)
        if json { return try printJSON(shapes) }
        print("layer        pass       op  batch         m      n      k  ×step     ms  GFLOP/s  % peak  kernel")
        for s in shapes {
            let batch = s.batch.isEmpty ? "-" : s.batch.map(String.init).joined(separator: "×")
            print(s.layer.padding(toLength: 12, withPad: " ", startingAt: 0) + " " + s.pass.padding(toLength: 10, withPad: " ", startingAt: 0)
                  + " " + s.op + "  " + batch.padding(toLength: 8, withPad: " ", startingAt: 0)
                  + String(format: " %6d %6d %6d %6d %7.2f %8.1f %6.0f  ", s.m, s.n, s.k, s.perStep, 1000 * s.seconds, s.gflops,
                           100 * s.peakFraction) + s.implementation)
        }
    }

    private func printJSON<T: Encodable>(_ value: T) throws {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.sortedKeys]
        print(String(decoding: try enc.encode(value), as: UTF8.self))
    }
}
