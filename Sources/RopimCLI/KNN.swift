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
        The train split is the memory bank, the test split the queries. During pre-training the same measure \
        runs every N epochs with `ropim pretrain --knn-every N` (on run.knn_train_subset / \
        run.knn_test_subset images).

        Examples:
          ropim knn --pretrained runs/x/checkpoint.safetensors
          ropim knn --pretrained runs/x/checkpoint.safetensors --features random --k 20 --temperature 0.07
        """)

    @OptionGroup var common: DownstreamOptions
    @OptionGroup var feature: FeatureOptions
    @Option(help: "Neighbours (probe.k; default 20).") var k: Int?
    @Option(help: "Temperature of the vote weights exp(sim/T) (probe.temperature; default 0.07).") var temperature: Double?

    func resolve() throws -> (FrozenFeaturesConfig, PretrainCheckpoint?) {
        try resolveFrozen(common, feature) { c in
            override(&c.probe.k, with: k)
            override(&c.probe.temperature, with: temperature)
        }
    }

    func run() throws {
        let (c, ckpt) = try resolve()
        try runFrozen(common, c, ckpt: ckpt, command: "knn", describe: { threads in
            "\(c.probe.k)-NN (T = \(c.probe.temperature)) on \(c.probe.features.rawValue) features (\(c.probe.blocksDescription), \(c.probe.pooling.rawValue) pooling), \(threads) threads"
        }) { c, ckpt, dir, compute, world in
            try FrozenEvaluation.knn(c, checkpoint: ckpt, runDirectory: dir, compute: compute, communicator: world)
        }
    }
}
