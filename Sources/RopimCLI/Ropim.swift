// The `ropim` command: argument parsing only; the work lives in the library targets.

import ArgumentParser
import ROPIMTraining

@main
struct Ropim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ropim",
        abstract: "Pre-train Vision Transformers with ROPIM (Random Orthogonal Projection Image Modeling).",
        discussion: """
        Start with 'ropim pretrain' (Fashion-MNIST, a small ViT, ROPIM) and see 'ropim pretrain --help'.
        Then evaluate its checkpoint: 'ropim knn', 'ropim linprobe' and 'ropim finetune' with --pretrained.

        To write your own config: ropim pretrain --print-config > my.yaml, edit, then ropim pretrain --config my.yaml.
        """,
        version: ropimVersion,
        subcommands: [Pretrain.self, Finetune.self, Linprobe.self, KNNCommand.self, Bench.self, BenchData.self,
                      Visualize.self, Analyze.self, Plot.self, Export.self, Import.self, Inspect.self, Embed.self, Presets.self])

    /// SIGINT/SIGTERM are taken by one waiter thread (see StopSignal) before any other thread starts.
    static func main() {
        StopSignal.start()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

struct Presets: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the built-in presets.")
    func run() {
        for p in Preset.allCases { print(p.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + p.summary) }
    }
}
