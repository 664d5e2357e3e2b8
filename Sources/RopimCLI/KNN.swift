// `ropim knn`: weighted k-NN (DINO) on frozen features: train split as memory, test split as queries.

import ArgumentParser
import Foundation
import ROPIMDownstream
import ROPIMTraining
import ROPIMFiles
import ROPIMConfig

struct KNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knn",
        abstract: "Weighted k-NN accuracy on frozen features (cosine similarity, votes exp(sim/T)).",
        discussion: """
        The train split is the memory bank, the test split the queries. During pre-training the same measure runs every N epochs with `ropim pretrain --knn-every N` (on run.knn_train_subset / run.knn_test_subset images).

        Examples:
          ropim knn --pretrained runs/x/checkpoint.safetensors
          ropim knn --pretrained runs/x/checkpoint.safetensors --features random --k 20 --temperature 0.07
        """)

    @OptionGroup var common: DownstreamOptions
    @OptionGroup var feature: FeatureOptions
    @Option(help: "Neighbours (default 20).") var k: Int?
    @Option(help: "Temperature of the vote weights exp(sim/T) (default 0.07).") var temperature: Double?

    func run() throws {
        let ckpt = try common.checkpoint()
        var c = try resolveFrozen(common, feature, ckpt: ckpt) { c in
            if let k { c.probe.k = k }
            if let temperature { c.probe.temperature = temperature }
        }
        if common.printConfig { print(try ConfigLoader.yaml(c), terminator: ""); return }
        let compute = try prepareRun(&c.run, command: "knn", source: c.probe.features.rawValue)
        try createRunDirectory(c.run.output)
        try AtomicFile.write(try ConfigLoader.yaml(c), to: c.run.output + "/config.yaml")
        print("ropim \(ropimVersion): \(c.probe.k)-NN (T = \(c.probe.temperature)) on \(c.probe.features.rawValue) features (\(c.probe.blocksDescription), \(c.probe.pooling.rawValue) pooling), \(compute.threads) threads; run directory \(c.run.output)")
        let record = try FrozenEvaluation.knn(c, checkpoint: ckpt, runDirectory: c.run.output, compute: compute) { print($0) }
        print(try writeSummary(record, command: "knn", runDirectory: c.run.output))
    }
}
