// `ropim pretrain`: resolve preset → YAML file → --set overrides → flags, then train.

import ROPIMData
import ROPIMDownstream
import ArgumentParser
import Foundation
import ROPIMCore
import ROPIMKernels
import ROPIMTraining
import ROPIMFiles
import ROPIMConfig
import ROPIMDistributed

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-train a ViT with ROPIM (default) or SimMIM-style masking.",
        discussion: """
        Settings come from a preset (--preset, default fmnist), then a YAML file (--config) that lists only \
        what it changes, then --set key=value, then the flags below. See every key with --print-config.

        The run directory gets config.yaml (resolved), metrics.jsonl (one JSON line per step) and \
        checkpoint.safetensors (weights with timm/SimMIM names).

        Examples:
          ropim pretrain                                  # Fashion-MNIST, ROPIM, 20 epochs
          ropim pretrain --epochs 1 --subset 10000        # a quick look
          ropim pretrain --corruption mask                # the SimMIM baseline
          ropim pretrain --preset vit-tiny --dataset synthetic --max-steps 5
          ropim pretrain --preset vit-tiny --data ~/imagenet --set data.cache=/tmp/in224.pack
          ropim pretrain --preset cifar --data ~/cifar-10-batches-bin
        """)

    @OptionGroup(title: "Config") var source: PresetOptions
    @OptionGroup(title: "Data") var data: DataOptions
    @Option(help: "Use the first N images of a seeded shuffle (data.subset).") var subset: Int?
    @Flag(help: "Skip unreadable images and empty class folders, and list them at the end, instead of stopping (data.skip_bad).")
    var skipBad = false
    @OptionGroup(title: "Run") var runFlags: RunOptions
    @OptionGroup(title: "Optimization") var optim: OptimOptions
    @Option(help: "Micro-batches per optimizer step (optim.accum_steps, gradient accumulation).") var accumSteps: Int?
    @OptionGroup(title: "Model and method") var step: ModelMethodOptions
    @Option(help: """
        Resume from a run directory (its newest ckpt-*/) or a ckpt-*/ directory. A run directory given with \
        --output that holds checkpoints but no final one is resumed automatically.
        """)
    var resume: CheckpointArgument?
    @Option(help: """
        Every N epochs (and after the last), k-NN top-1 of the encoder's features on run.knn_train_subset / \
        run.knn_test_subset labelled images, logged as knn_top1 in metrics.jsonl (run.knn_every; 0 = off).
        """)
    var knnEvery: Int?
    @Flag(help: "Print the resolved config as YAML and exit.") var printConfig = false

    /// What the flags resolve to: the config, the preset it started from, the checkpoint to resume and,
    /// when resuming, the settings this invocation changed (one line each, with their effect).
    struct Resolved {
        var config: PretrainConfig
        var preset: Preset
        var resume: String?
        var state: RunState?
        var changes: [String] = []
    }

    /// preset → --config → --set → flags, validated; or, when resuming, the run's own saved config with this
    /// invocation's files, overrides and flags on top: what may change on resume is applied, anything else
    /// is an error naming the key (`ResumeChanges`). --max-steps counts this invocation's steps.
    func resolve(worldSize: Int = 1) throws -> Resolved {
        var c = try apply(to: try source.resolve())
        // A run records where its data is as an absolute path, so it resumes from any working directory.
        c.data.path = absolutePath(c.data.path)
        guard let ckpt = try resumeCheckpoint(c) else { return Resolved(config: c, preset: source.preset) }
        let state = try RunCheckpoint.state(at: ckpt)
        var saved = try ConfigLoader.load(PretrainConfig.self, yaml: state.config, file: ckpt + "/state.json", defaults: PretrainConfig())
        saved.optim.maxSteps = 0
        saved.run.output = URL(fileURLWithPath: ckpt).deletingLastPathComponent().path
        var asked = try apply(to: try source.files.apply(to: saved))
        asked.run.output = saved.run.output
        if data.data != nil { asked.data.path = absolutePath(asked.data.path) }
        let changes = try ResumeChanges.check(saved: saved, asked: asked, savedWorld: state.worldSize ?? 1, askedWorld: worldSize)
        return Resolved(config: asked, preset: source.preset, resume: ckpt, state: state, changes: changes)
    }

    func absolutePath(_ p: String) -> String {
        URL(fileURLWithPath: (p as NSString).expandingTildeInPath).standardizedFileURL.path
    }

    /// This invocation's flags on top of `base`, validated.
    func apply(to base: PretrainConfig) throws -> PretrainConfig {
        var c = base
        data.apply(path: &c.data.path, kind: &c.data.dataset)
        override(&c.data.subset, with: subset)
        if skipBad { c.data.skipBad = true }
        runFlags.apply(to: &c.run)
        optim.apply(to: &c.optim)
        override(&c.optim.accumSteps, with: accumSteps)
        step.apply(to: &c)
        override(&c.run.knnEvery, with: knnEvery)
        try c.validate()
        return c
    }

    /// The checkpoint to resume from: --resume, or the newest one in an unfinished --output directory.
    func resumeCheckpoint(_ c: PretrainConfig) throws -> String? {
        if let resume { return try CheckpointPath.resumable(resume.path) }
        guard !c.run.output.isEmpty, let p = try? CheckpointPath.resolve(c.run.output), p.kind == .unfinishedRun else { return nil }
        return p.resumable
    }

    func run() throws {
        let world = try Distributed.world(), writes = world.isMain
        let r = try resolve(worldSize: world.worldSize)
        var c = r.config
        let compute = ThreadOptions.context(c.run.threads), threads = compute.threads
        if printConfig { print(try ConfigLoader.yaml(c), terminator: ""); return }
        // Rank 0 names a new run directory (its clock); every rank uses that name.
        if c.run.output.isEmpty { c.run.output = world.broadcast(defaultRunDirectory("\(r.preset.rawValue)-\(c.method.corruption.rawValue)")) }
        let dir = c.run.output
        try RankAgreement.check([("ropim version", ropimVersion), ("resolved config", try ConfigLoader.yaml(c)),
                                 ("resumed checkpoint", r.resume ?? "none")], communicator: world)
        if let ckpt = r.resume, let state = r.state {
            // A resumed run's directory is ours before anything in it is used (a second process stops here).
            if writes { try RunDirectory.claim(dir) }
            print("resuming \(ckpt) at step \(state.step)\(threads != state.threads ? " (written with \(state.threads) threads, now \(threads): losses will differ in the last bits)" : "")")
            for line in r.changes { print("  changed on resume: \(line)") }
        }
        // Everything that can fail on bad input happens before a new run directory is created.
        let loaded = try c.loadData(compute: compute)
        let dataset = loaded.source
        try RankAgreement.check([("dataset", "\(dataset.count) images, \(dataset.classes.map(String.init) ?? "no") classes, \(dataset.channels) channels")],
                                communicator: world)
        let trainer = try r.resume.map { try PretrainTrainer(config: c, dataset: dataset, compute: compute, resume: $0, communicator: world) }
            ?? PretrainTrainer(config: c, dataset: dataset, compute: compute, communicator: world)
        if r.resume == nil && writes { try RunDirectory.create(dir) }
        var finalKNN: [String: Any]?   // the k-NN monitor's result after the last epoch, reused by the closing report
        if c.run.knnEvery > 0 {   // every rank takes part; rank 0 logs
            let monitor = try KNNMonitor(config: c, worldSize: world.worldSize, compute: compute)
            trainer.epochHook = { epoch, model in
                let r = try monitor.evaluate(encoder: model.encoder, compute: compute, communicator: world)
                if epoch == c.optim.epochs { finalKNN = r }
                return r
            }
        }
        let pictures = writes ? reconstructionPictures(c, trainer: trainer, runDirectory: dir, compute: compute) : nil
        if writes {
            try AtomicFile.write(try ConfigLoader.yaml(c), to: dir + "/config.yaml")
            if let names = loaded.classNames { try ImageFolder.writeClasses(names, to: dir + "/classes.txt") }
        }
        let lr = c.scaledLR(worldSize: world.worldSize)
        print("ropim \(ropimVersion): pre-training \(c.model.embedDim)×\(c.model.depth) ViT (\(trainer.model.params.count) parameters), \(c.method.corruption.rawValue) \(c.method.corruption == .rop ? "K=\(c.model.numPatches) K'=\(c.method.sketchSize) " : "")\(lossName(c.method)) loss")
        let shape = (try? dataset.withImage(0) { "\($0.channels)×\($0.height)×\($0.width)" }) ?? "\(dataset.channels) channels"
        print("data: \(loaded.kind.rawValue) \(dataset.source), \(dataset.count) images \(shape)\(dataset.classes.map { ", \($0) classes" } ?? "") → \(c.model.inChans)×\(c.model.imgSize)×\(c.model.imgSize)\(loaded.cacheReason.map { "; packed cache \($0)" } ?? "")")
        if !loaded.report.isEmpty { print(loaded.report.summary(limit: 5)) }
        if let line = dataParallelLine(c.optim, world: world, threads: threads) { print(line) }
        print("lr = base \(c.optim.baseLR) × global batch \(c.optim.globalBatch(worldSize: world.worldSize)) / 512 = \(String(format: "%.3e", lr.peak)) (warm-up from \(String(format: "%.2e", lr.warmup)) over \(trainer.schedule.warmupSteps) steps, cosine to \(String(format: "%.2e", lr.min)))")
        if let w = trainer.schedule.warning { print(w) }
        print("\(c.optim.epochs) epochs × \(trainer.stepsPerEpoch) steps, batch \(c.optim.batchSize)\(c.optim.accumSteps > 1 ? " × \(c.optim.accumSteps) accumulated" : ""), \(threads) threads, seed \(c.run.seed); run directory \(dir)")
        StopSignal.stopAtStepBoundary()
        let summary = try trainer.train(runDirectory: dir)
        if summary.interrupted { throw ExitCode(130) }
        print("")
        if summary.meanLossStart.isFinite {
            print(String(format: "done: %d steps in %.1f s; mean loss %.4f (start) → %.4f (end); checkpoint %@",
                         summary.steps, summary.seconds, summary.meanLossStart, summary.meanLossEnd, summary.checkpoint))
            if world.worldSize > 1 {
                print(String(format: "all-reduce: %.2f s of %.1f s (%.1f %%) on rank 0", summary.communicationSeconds, summary.seconds,
                             100 * summary.communicationSeconds / Swift.max(summary.seconds, 1e-9)))
            }
        } else {
            print("done: the run had already reached step \(summary.steps); nothing left to train; checkpoint \(summary.checkpoint)")
        }
        if writes {
            let report = c.run.report ? closingReport(c, trainer: trainer, steps: summary.steps, pictures: pictures, finalKNN: finalKNN,
                                                      runDirectory: dir, compute: compute) : [:]
            try writePretrainSummary(summary, config: c, directory: dir, extra: report)
        }
        let skipped = SkipReport(skipped: loaded.report.skipped + trainer.loader.skipped.skipped)
        if !skipped.isEmpty { print(skipped.summary()) }
    }
}

/// summary.json for scripts, as the downstream commands write: steps, seconds, losses, checkpoint (and what the
/// closing report measured: `extra`).
func writePretrainSummary(_ s: TrainSummary, config c: PretrainConfig, directory: String, extra: [String: Any] = [:]) throws {
    var r: [String: Any] = extra.merging(["command": "pretrain", "steps": s.steps, "seconds": s.seconds, "checkpoint": s.checkpoint,
                            "corruption": c.method.corruption.rawValue, "loss": lossName(c.method), "seed": c.run.seed]) { $1 }
    if s.meanLossStart.isFinite { r["mean_loss_start"] = s.meanLossStart; r["mean_loss_end"] = s.meanLossEnd }
    if s.communicationSeconds > 0 { r["allreduce_seconds"] = s.communicationSeconds }
    let data = try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys, .prettyPrinted])
    try AtomicFile.write(data, to: directory + "/summary.json")
}

/// The loss a run trains with: method.loss, except MAE, which always uses MSE (on the hidden patches).
func lossName(_ m: MethodConfig) -> String { m.corruption == .mae ? "mse" : m.loss.rawValue }
