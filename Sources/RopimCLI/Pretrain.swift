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

struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-train a ViT with ROPIM (default) or SimMIM-style masking.",
        discussion: """
        Settings come from a preset (--preset, default fmnist), then a YAML file (--config) that lists only what it changes, then --set key=value, then the flags below. See every key with --print-config.

        The run directory gets config.yaml (resolved), metrics.jsonl (one JSON line per step) and checkpoint.safetensors (weights with timm/SimMIM names).

        Examples:
          ropim pretrain                                  # Fashion-MNIST, ROPIM, 20 epochs
          ropim pretrain --epochs 1 --subset 10000        # a quick look
          ropim pretrain --corruption mask                # the SimMIM baseline
          ropim pretrain --preset vit-tiny --dataset synthetic --max-steps 5
          ropim pretrain --preset vit-tiny --data ~/imagenet --set data.cache=/tmp/in224.pack
          ropim pretrain --preset cifar --data ~/cifar-10-batches-bin
        """)

    @OptionGroup var options: ConfigOptions
    @Option(help: "Resume from a run directory (its newest checkpoint) or a ckpt-*/ directory. A run directory given with --output that holds checkpoints but no final one is resumed automatically.")
    var resume: String?
    @Option(help: "Every N epochs (and after the last), k-NN top-1 of the encoder's features on run.knn_train_subset/run.knn_test_subset labelled images, logged as knn_top1 in metrics.jsonl (0 = off).")
    var knnEvery: Int?
    @Flag(help: "Print the resolved config as YAML and exit.") var printConfig = false

    /// The checkpoint to resume from: --resume, or the newest one in an unfinished --output directory.
    func resumeCheckpoint(_ c: PretrainConfig) throws -> String? {
        if let resume { return try RunCheckpoint.resolve(resume) }
        let dir = c.run.output
        guard !dir.isEmpty, !FileManager.default.fileExists(atPath: dir + "/checkpoint.safetensors") else { return nil }
        return RunCheckpoint.complete(in: dir).last
    }

    func run() throws {
        var (c, base) = try options.resolve()
        if let knnEvery { c.run.knnEvery = knnEvery }
        let ckpt = try resumeCheckpoint(c)
        let state = try ckpt.map { try RunCheckpoint.state(at: $0) }
        if let ckpt, let state {
            // The run continues with its own saved config; only how long and how it runs may change.
            var saved = try ConfigLoader.load(PretrainConfig.self, yaml: state.config, file: ckpt + "/state.json", defaults: PretrainConfig())
            saved.run.output = URL(fileURLWithPath: ckpt).deletingLastPathComponent().path
            if let m = options.maxSteps { saved.optim.maxSteps = m }
            if let t = options.threads { saved.run.threads = t }
            c = saved
        }
        let compute = try resolveCompute(threads: c.run.threads)
        if let ckpt, let state {
            let threads = compute.threads
            print("resuming \(ckpt) at step \(state.step)\(threads != state.threads ? " (written with \(state.threads) threads, now \(threads): losses will differ in the last bits)" : "")")
        }
        if printConfig { print(try ConfigLoader.yaml(c), terminator: ""); return }
        if c.run.output.isEmpty {
            let f = DateFormatter(); f.dateFormat = "yyyyMMdd-HHmmss"
            c.run.output = "runs/\(base.rawValue)-\(c.method.corruption.rawValue)-\(f.string(from: Date()))"
        }
        let dir = c.run.output
        // Everything that can fail on bad input happens before the run directory is created.
        let loaded = try c.loadData(compute: compute)
        let dataset = loaded.source
        let trainer = try ckpt.map { try PretrainTrainer(config: c, dataset: dataset, compute: compute, resume: $0) }
            ?? PretrainTrainer(config: c, dataset: dataset, compute: compute)
        if ckpt == nil { try RunDirectory.create(dir) }
        if c.run.knnEvery > 0 {
            let monitor = try KNNMonitor(config: c, compute: compute)
            trainer.epochHook = { _, model in try monitor.evaluate(encoder: model.encoder, compute: compute) }
        }
        try AtomicFile.write(try ConfigLoader.yaml(c), to: dir + "/config.yaml")
        if let names = loaded.classNames { try ImageFolder.writeClasses(names, to: dir + "/classes.txt") }
        let lr = c.scaledLR
        print("ropim \(ropimVersion): pre-training \(c.model.embedDim)×\(c.model.depth) ViT (\(trainer.model.params.count) parameters), \(c.method.corruption.rawValue) \(c.method.corruption == .rop ? "K=\(c.model.numPatches) K'=\(c.method.sketchSize) " : "")\(c.method.loss.rawValue) loss")
        let shape = (try? dataset.withImage(0) { "\($0.channels)×\($0.height)×\($0.width)" }) ?? "\(dataset.channels) channels"
        print("data: \(loaded.kind.rawValue) \(dataset.source), \(dataset.count) images \(shape)\(dataset.classes.map { ", \($0) classes" } ?? "") → \(c.model.inChans)×\(c.model.imgSize)×\(c.model.imgSize)\(loaded.builtCache ? "; packed cache written to \(c.data.cache)" : "")")
        if !loaded.report.isEmpty { print(loaded.report.summary(limit: 5)) }
        print("lr = base \(c.optim.baseLR) × total batch \(c.totalBatch) / 512 = \(String(format: "%.3e", lr.peak)) (warm-up from \(String(format: "%.2e", lr.warmup)) over \(trainer.schedule.warmupSteps) steps, cosine to \(String(format: "%.2e", lr.min)))")
        if let w = trainer.schedule.warning { print(w) }
        print("\(c.optim.epochs) epochs × \(trainer.stepsPerEpoch) steps, batch \(c.optim.batchSize)\(c.optim.accumSteps > 1 ? " × \(c.optim.accumSteps) accumulated" : ""), \(compute.threads) threads, seed \(c.run.seed); run directory \(dir)")
        StopSignal.install()
        let summary = try trainer.train(runDirectory: dir)
        if summary.interrupted { throw ExitCode(130) }
        print("")
        if summary.meanLossStart.isFinite {
            print(String(format: "done: %d steps in %.1f s; mean loss %.4f (start) → %.4f (end); checkpoint %@",
                         summary.steps, summary.seconds, summary.meanLossStart, summary.meanLossEnd, summary.checkpoint))
        } else {
            print("done: the run had already reached step \(summary.steps); nothing left to train; checkpoint \(summary.checkpoint)")
        }
        try writePretrainSummary(summary, config: c, directory: dir)
        let skipped = SkipReport(skipped: loaded.report.skipped + trainer.loader.skipped.skipped)
        if !skipped.isEmpty { print(skipped.summary()) }
    }
}

/// summary.json for scripts, as the downstream commands write: steps, seconds, losses, checkpoint.
func writePretrainSummary(_ s: TrainSummary, config c: PretrainConfig, directory: String) throws {
    var r: [String: Any] = ["command": "pretrain", "steps": s.steps, "seconds": s.seconds, "checkpoint": s.checkpoint,
                            "corruption": c.method.corruption.rawValue, "loss": c.method.loss.rawValue, "seed": c.run.seed]
    if s.meanLossStart.isFinite { r["mean_loss_start"] = s.meanLossStart; r["mean_loss_end"] = s.meanLossEnd }
    let data = try JSONSerialization.data(withJSONObject: r, options: [.sortedKeys, .prettyPrinted])
    try AtomicFile.write(data, to: directory + "/summary.json")
}
