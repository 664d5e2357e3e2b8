// `ropim bench-data`: how fast the data pipeline feeds a 224-px model — decoded + augmented images/s from
// JPEG files and from the packed cache with N loader threads — next to a vit-tiny training step's images/s.

import ArgumentParser
import Foundation
import ROPIMCore
import ROPIMData
import ROPIMFiles
import ROPIMKernels
import ROPIMTraining
import ROPIMOptim

struct BenchData: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-data",
        abstract: "Measure the data loader (JPEG and packed cache) against a vit-tiny training step.",
        discussion: """
        Writes --count synthetic --source-size px JPEGs to a temporary folder, then times batches of --batch \
        images (RandomResizedCrop + flip to --size px, normalized) built by --workers loader threads, first \
        decoding every JPEG on the fly, then from a packed cache of the decoded images. Finally it times \
        --steps ROPIM training steps of vit-tiny on a synthetic batch of --train-batch images with \
        --threads kernel threads. Build with -c release for meaningful numbers.
        """)

    @Option(help: "JPEG files to generate (at least twice --batch).") var count = 512
    @Option(help: "Side of the generated JPEGs in pixels.") var sourceSize = 256
    @Option(help: "Model input size in pixels.") var size = 224
    @Option(help: "Images per loader batch.") var batch = 64
    @Option(help: "Loader threads (0 = build on the calling thread, parallel over the batch).") var workers = 2
    @OptionGroup var threadFlags: ThreadOptions
    @Option(help: "Training steps to time (0 skips the training step).") var steps = 2
    @Option(help: "Images per training step.") var trainBatch = 16
    @Option(help: "Extra augmentation: a timm RandAugment spec, e.g. rand-m9-mstd0.5-inc1.") var randAugment = ""
    @Option(help: "Folder for the generated files (default: a new temporary folder, removed at the end).") var dir: String?

    /// The loader settings the flags name (vit-tiny's augmentation plus --rand-augment).
    var settings: LoaderBenchSettings {
        var s = LoaderBenchSettings()
        s.count = count; s.sourceSize = sourceSize; s.size = size; s.batch = batch; s.workers = workers
        s.augment = Preset.vitTiny.config.data.augment
        s.augment.randAugment = randAugment
        return s
    }

    func validate() throws {
        do { try settings.validate() } catch { throw ValidationError("\(error)") }
        if steps < 0 { throw ValidationError("--steps must be ≥ 0 (0 skips the training step), got \(steps)") }
        if trainBatch < 1 { throw ValidationError("--train-batch must be at least 1, got \(trainBatch)") }
    }

    func run() throws {
        let compute = threadFlags.context()
        let root = dir ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("ropim-bench-data-\(getpid())")
        try Folders.create(root + "/images", what: "the folder for the generated JPEGs", fix: "pass another --dir")
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: root) } }
        let loader = try LoaderBench.run(settings, root: root, compute: compute)
        let (jpeg, packed) = (loader.jpegImagesPerSecond, loader.packedImagesPerSecond)

        guard steps > 0 else { return }
        var c = Preset.vitTiny.config
        c.optim.batchSize = trainBatch; c.run.seed = 1
        let bench = try BenchStep(config: c, compute: compute)
        try bench.step()   // warm-up: buffers sized, pages touched
        let t = Date()
        for _ in 0..<steps { try bench.step() }
        let train = Double(steps * trainBatch) / Date().timeIntervalSince(t)
        print(String(format: "vit-tiny ROPIM training step at %d px, batch %d, %d kernel threads: %.1f images/s", c.model.imgSize,
                     trainBatch, compute.threads, train))
        print(String(format: "loader headroom: JPEG %.0f×, packed cache %.0f× the training step's rate", jpeg / train, packed / train))
    }
}
