// `ropim linprobe`: frozen features (checkpoint, random encoder or pixels) → BatchNorm → linear head.

import ArgumentParser
import Foundation
import ROPIMDownstream
import ROPIMTraining
import ROPIMOptim
import ROPIMFiles
import ROPIMConfig

extension FeatureSource: ExpressibleByArgument {}
extension FeaturePooling: ExpressibleByArgument {}

/// Options shared by linprobe and knn.
struct FeatureOptions: ParsableArguments {
    @Option(help: "Feature source: pretrained (the checkpoint's encoder), random (same architecture, fresh init), pixels.") var features: FeatureSource?
    @Option(help: "Block whose output is the feature: -1 = final output after the final norm (default), 0..depth-1 = that block.") var block: Int?
    @Option(help: "Concatenate the pooled outputs of the last N blocks, each through the final norm (DINO's n_last_blocks; needs --block -1).") var lastBlocks: Int?
    @Option(help: "Pooling: avg (patch tokens, default) or cls.") var pooling: FeaturePooling?
    @Flag(help: "Also write the features to features.safetensors in the run directory.") var saveFeatures = false
}

func resolveFrozen(_ common: DownstreamOptions, _ f: FeatureOptions, ckpt: PretrainCheckpoint?,
                   extra: (inout FrozenFeaturesConfig) -> Void) throws -> FrozenFeaturesConfig {
    var c = FrozenFeaturesConfig()
    if let ckpt {
        c.pretrained = common.pretrained!
        c.model = ckpt.config.model
        inheritData(ckpt, into: &c.data)
    } else {
        c.probe.features = .pixels
    }
    c.data.augment.randomResizedCrop = false; c.data.augment.horizontalFlip = false   // not used: features see plain images
    for path in common.config { c = try ConfigLoader.load(FrozenFeaturesConfig.self, path: path, defaults: c) }
    if !common.overrides.isEmpty { c = try ConfigLoader.apply(common.overrides, to: c, origin: "--set") }
    common.apply(to: &c.data, run: &c.run)
    if let v = f.features { c.probe.features = v }
    if let v = f.block { c.probe.block = v }
    if let v = f.lastBlocks { c.probe.lastBlocks = v }
    if let v = f.pooling { c.probe.pooling = v }
    if f.saveFeatures { c.probe.saveFeatures = true }
    extra(&c)
    try c.probe.validate(depth: c.probe.features == .pixels ? nil : (ckpt?.config.model ?? c.model).depth)
    return c
}

struct Linprobe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Linear probe on frozen features (MAE protocol: BatchNorm without affine + linear head).",
        discussion: """
        Features are computed once (no augmentation) for the train and test splits and cached in memory (--save-features also writes them), then only the head trains: SGD with momentum 0.9, lr = base × batch / 256, warm-up then cosine, no weight decay (MAE uses LARS; not needed at these batch sizes).

        Baselines: --features random (the checkpoint's architecture, freshly initialized) and --features pixels (a linear model on the normalized pixels).

        Examples:
          ropim linprobe --pretrained runs/x/checkpoint.safetensors
          ropim linprobe --pretrained runs/x/checkpoint.safetensors --features random
          ropim linprobe --features pixels --epochs 50
        """)

    @OptionGroup var common: DownstreamOptions
    @OptionGroup var feature: FeatureOptions
    @Option(help: "Head training epochs.") var epochs: Int?
    @Option(help: "Base learning rate for a batch of 256.") var lr: Double?
    @Option(help: "Head batch size.") var batchSize: Int?

    func run() throws {
        let ckpt = try common.checkpoint()
        var c = try resolveFrozen(common, feature, ckpt: ckpt) { c in
            if let epochs { c.probe.epochs = epochs }
            if let lr { c.probe.baseLR = lr }
            if let batchSize { c.probe.batchSize = batchSize }
        }
        if common.printConfig { print(try ConfigLoader.yaml(c), terminator: ""); return }
        let compute = try prepareRun(&c.run, command: "linprobe", source: c.probe.features.rawValue)
        try createRunDirectory(c.run.output)
        try AtomicFile.write(try ConfigLoader.yaml(c), to: c.run.output + "/config.yaml")
        print("ropim \(ropimVersion): linear probe on \(c.probe.features.rawValue) features (\(c.probe.blocksDescription), \(c.probe.pooling.rawValue) pooling), \(c.probe.epochs) epochs, \(compute.threads) threads; run directory \(c.run.output)")
        let record = try FrozenEvaluation.linearProbe(c, checkpoint: ckpt, runDirectory: c.run.output, compute: compute) { print($0) }
        print(try writeSummary(record, command: "linprobe", runDirectory: c.run.output))
    }
}
