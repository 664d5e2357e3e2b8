// The `ropim` command: argument parsing only; the work lives in the library targets.

import ArgumentParser
import Foundation
import ROPIMDistributed
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
    /// library targets log is printed by the console handler. Under mpirun, MPI starts here (its threads
    /// inherit the blocked signals); ranks other than 0 print nothing but errors, and an error on any rank
    /// ends the whole job at once.
    static func main() {
        StopSignal.start()
        let world: any Communicator
        do { world = try Distributed.world() } catch { exit(withError: error) }
        if world.rank != 0 { _ = freopen("/dev/null", "w", stdout) }
        // mpirun hands ranks a terminal even when its own output is a file: plain lines there.
        let console = Console(interactive: world.worldSize == 1 && isatty(STDOUT_FILENO) != 0)
        LoggingSystem.bootstrap { _ in ConsoleLogHandler(console: console) }
        do {
            var command = try parseAsRoot(joiningNegativeNumbers(Array(CommandLine.arguments.dropFirst())))
            if world.worldSize > 1 && !Ropim.dataParallel.contains(where: { ObjectIdentifier(type(of: command)) == ObjectIdentifier($0) }) {
                throw ValidationError("only 'ropim pretrain', 'finetune', 'linprobe' and 'knn' run data-parallel; run this command without mpirun")
            }
            try command.run()
        } catch {
            if world.worldSize > 1 && exitCode(for: error) != .success {
                let code = exitCode(for: error)
                if !(error is ExitCode) {
                    FileHandle.standardError.write(Data("ropim (rank \(world.rank) of \(world.worldSize)): \(fullMessage(for: error))\n".utf8))
                }
                if code.rawValue == 130 { Distributed.finalize(); Foundation.exit(130) }   // every rank stopped at the same step
                world.abort(code: code.rawValue)
            }
            Distributed.finalize()
            exit(withError: error)
        }
        Distributed.finalize()
    }
}

extension Ropim {
    /// The commands that run data-parallel under mpirun (docs/DISTRIBUTED.md); the others refuse to.
    static let dataParallel: [any ParsableCommand.Type] = [Pretrain.self, Finetune.self, Linprobe.self, KNNCommand.self]

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
