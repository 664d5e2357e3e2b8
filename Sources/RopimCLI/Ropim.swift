// The `ropim` command: argument parsing only; the work lives in the library targets.

import ArgumentParser
import Logging
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

    /// SIGINT/SIGTERM are taken by one waiter thread (see StopSignal) before any other thread starts; what the
    /// library targets log is printed by the console handler.
    static func main() {
        StopSignal.start()
        let console = Console()
        LoggingSystem.bootstrap { _ in ConsoleLogHandler(console: console) }
        do {
            var command = try parseAsRoot(joiningNegativeNumbers(Array(CommandLine.arguments.dropFirst())))
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

extension Ropim {
    /// ArgumentParser reads any value that starts with '-' as an option, so `--lr -1` failed with "Missing value
    /// for '--lr <lr>'" instead of reaching the option's range check. No option name is a number, so a
    /// negative number right after an option is joined to it (`--lr=-1`), the same for every option and command.
    static func joiningNegativeNumbers(_ args: [String]) -> [String] {
        var out: [String] = []
        for a in args {
            if a.hasPrefix("-"), Double(a) != nil, let option = out.last, option.hasPrefix("--"), option != "--",
               !option.contains("="), !out.contains("--") {
                out[out.count - 1] = option + "=" + a
            } else {
                out.append(a)
            }
        }
        return out
    }
}

struct Presets: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the built-in presets.")
    func run() {
        for p in Preset.allCases { print(p.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0) + p.summary) }
    }
}
