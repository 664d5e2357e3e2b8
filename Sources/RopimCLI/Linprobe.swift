// `ropim linprobe`: frozen features (checkpoint, random encoder or pixels) → BatchNorm → linear head.

import ArgumentParser
import Foundation
import ROPIMDownstream
import ROPIMKernels
import ROPIMTraining
import ROPIMOptim
import ROPIMFiles
import ROPIMConfig
import ROPIMDistributed

extension FeatureSource: ExpressibleByArgument {}
extension FeaturePooling: ExpressibleByArgument {}

/// Options shared by linprobe and knn.
struct FeatureOptions: ParsableArguments {
    @Option(help: """
        Feature source (probe.features): pretrained (the checkpoint's encoder), random (same architecture, \
        fresh init), pixels.
        """)
    var features: FeatureSource?
    // .unconditional: the documented value -1 starts with '-' and must not read as an option.
    @Option(parsing: .unconditional, help: """
        Block whose output is the feature (probe.block): -1 = final output after the final norm (default), \
        0..depth-1 = that block.
        """)
    var block: Int?
    @Option(help: """
        Concatenate the pooled outputs of the last N blocks, each through the final norm (probe.last_blocks; \
        DINO's n_last_blocks; needs --block -1).
        """)
    var lastBlocks: Int?
    @Option(help: "Pooling (probe.pooling): avg (patch tokens, default) or cls.") var pooling: FeaturePooling?
    @Flag(help: "Also write the features to features.safetensors in the run directory (probe.save_features).") var saveFeatures = false

    func apply(to p: inout ProbeConfig) {
        override(&p.features, with: features)
        override(&p.block, with: block)
        override(&p.lastBlocks, with: lastBlocks)
        override(&p.pooling, with: pooling)
        if saveFeatures { p.saveFeatures = true }
    }
}

/// Defaults → the checkpoint's model and data → --config → --set → flags (then `extra`), validated; with
/// the checkpoint --pretrained names.
func resolveFrozen(_ common: DownstreamOptions, _ f: FeatureOptions,
                   extra: (inout FrozenFeaturesConfig) -> Void) throws -> (FrozenFeaturesConfig, PretrainCheckpoint?) {
    let ckpt = try common.checkpoint()
    var c = FrozenFeaturesConfig()
    if let ckpt {
        c.pretrained = ckpt.path
        c.model = ckpt.config.model
        inheritData(ckpt, into: &c.data)
    } else {
        c.probe.features = .pixels
    }
    c.data.augment.randomResizedCrop = false; c.data.augment.horizontalFlip = false   // not used: features see plain images
    c = try common.files.apply(to: c)
    common.apply(to: &c.data, run: &c.run)
    f.apply(to: &c.probe)
    extra(&c)
    try c.validate(checkpointModel: ckpt?.config.model)
    return (c, ckpt)
}

/// linprobe and knn after their config: print it, or evaluate into a new run directory and print the summary.
/// Under mpirun every rank takes part in the evaluation (`world`); rank 0 writes (docs/DISTRIBUTED.md).
func runFrozen(_ common: DownstreamOptions, _ c: FrozenFeaturesConfig, ckpt: PretrainCheckpoint?, command: String,
               describe: (_ threads: Int) -> String,
               evaluate: (FrozenFeaturesConfig, PretrainCheckpoint?, _ runDirectory: String, ComputeContext, any Communicator) throws -> [String: Any]) throws {
    let world = try Distributed.world()
    if let note = ckpt?.note { print("checkpoint: \(note)") }
    if common.printConfig { print(try ConfigLoader.yaml(c), terminator: ""); return }
    var c = c
    let compute = prepareRun(&c.run, command: command, source: c.probe.features.rawValue, world: world)
    let yaml = try ConfigLoader.yaml(c)
    try checkRanksAgree(config: yaml, checkpoint: ckpt, world: world)
    if world.isMain {
        try createRunDirectory(c.run.output)
        try AtomicFile.write(yaml, to: c.run.output + "/config.yaml")
    }
    print("ropim \(ropimVersion): " + describe(compute.threads) + "; run directory \(c.run.output)")
    if world.worldSize > 1 {
        let features = c.probe.features == .pixels ? "pixel features computed by every rank" : "feature extraction dealt to the ranks in batches of \(c.probe.featureBatch)"
        print("data-parallel: \(world.worldSize) ranks × \(compute.threads) threads; \(features); rank 0 writes the run directory")
    }
    let record = try evaluate(c, ckpt, c.run.output, compute, world)
    if world.isMain { print(try writeSummary(record, command: command, runDirectory: c.run.output)) }
}

struct Linprobe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Linear probe on frozen features (MAE protocol: BatchNorm without affine + linear head).",
        discussion: """
        Features are computed once (no augmentation) for the train and test splits and cached in memory \
        (--save-features also writes them), then only the head trains: SGD with momentum 0.9, \
        lr = base × batch / 256, warm-up then cosine, no weight decay (MAE uses LARS; not needed at these \
        batch sizes).

        Baselines: --features random (the checkpoint's architecture, freshly initialized) and --features pixels \
        (a linear model on the normalized pixels).

        Examples:
          ropim linprobe --pretrained runs/x/checkpoint.safetensors
          ropim linprobe --pretrained runs/x/checkpoint.safetensors --features random
          ropim linprobe --features pixels --epochs 50
        """)

    @OptionGroup var common: DownstreamOptions
    @OptionGroup var feature: FeatureOptions
    @Option(help: "Head training epochs (probe.epochs).") var epochs: Int?
    @Option(help: "Base learning rate for a batch of 256 (probe.base_lr).") var lr: Double?
    @Option(help: "Head batch size (probe.batch_size).") var batchSize: Int?

    func resolve() throws -> (FrozenFeaturesConfig, PretrainCheckpoint?) {
        try resolveFrozen(common, feature) { c in
            override(&c.probe.epochs, with: epochs)
            override(&c.probe.baseLR, with: lr)
            override(&c.probe.batchSize, with: batchSize)
        }
    }

    func run() throws {
        let (c, ckpt) = try resolve()
        try runFrozen(common, c, ckpt: ckpt, command: "linprobe", describe: { threads in
            "linear probe on \(c.probe.features.rawValue) features (\(c.probe.blocksDescription), \(c.probe.pooling.rawValue) pooling), \(c.probe.epochs) epochs, \(threads) threads"
        }) { c, ckpt, dir, compute, world in
            try FrozenEvaluation.linearProbe(c, checkpoint: ckpt, runDirectory: dir, compute: compute, communicator: world)
        }
    }
}
