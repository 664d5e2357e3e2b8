// `ropim bench-data`: how fast the data pipeline feeds a 224-px model — decoded + augmented images/s from
// JPEG files and from the packed cache with N loader threads — next to a vit-tiny training step's images/s.

import ArgumentParser
import Foundation
import ROPIMCore
import ROPIMData
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

    @Option(help: "JPEG files to generate.") var count = 512
    @Option(help: "Side of the generated JPEGs.") var sourceSize = 256
    @Option(help: "Model input size.") var size = 224
    @Option(help: "Images per batch.") var batch = 64
    @Option(help: "Loader threads (0 = build on the calling thread, parallel over the batch).") var workers = 2
    @Option(help: "Kernel threads for the training step (0 = all cores).") var threads = 0
    @Option(help: "Training steps to time (0 skips the training step).") var steps = 2
    @Option(help: "Images per training step.") var trainBatch = 16
    @Option(help: "Extra augmentation: a timm RandAugment spec, e.g. rand-m9-mstd0.5-inc1.") var randAugment = ""
    @Option(help: "Folder for the generated files (default: a new temporary folder, removed at the end).") var dir: String?

    func run() throws {
        let compute = try resolveCompute(threads: threads)
        let root = dir ?? (NSTemporaryDirectory() as NSString).appendingPathComponent("ropim-bench-data-\(getpid())")
        try FileManager.default.createDirectory(atPath: root + "/images", withIntermediateDirectories: true)
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: root) } }

        var t = Date()
        let synthetic = SyntheticImages.make(count: count, channels: 3, size: sourceSize, classes: 8, seed: 1, compute: compute)
        var jpegBytes = 0
        for i in 0..<count {
            let img = UInt8Image(channels: 3, height: sourceSize, width: sourceSize,
                                 pixels: Array(synthetic.pixels[i * synthetic.imageSize..<(i + 1) * synthetic.imageSize]))
            let bytes = try ImageCodec.encodeJPEG(img, quality: 90)
            jpegBytes += bytes.count
            let folder = root + "/images/class\(synthetic.labels![i])"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/\(i).jpg"))
        }
        print(String(format: "wrote %d JPEGs of %d×%d (%.0f KB each on average) in %.1f s to %@", count, sourceSize, sourceSize,
                     Double(jpegBytes) / Double(count) / 1024, Date().timeIntervalSince(t), root))

        var augment = Preset.vitTiny.config.data.augment
        augment.randAugment = randAugment
        let transform = try SampleTransform(size: size, outChannels: 3, normalization: .imagenet, augment: augment)
        let scan = try ImageFolder.scan(root + "/images")
        let batches = max(1, count / batch - 1)   // one batch warms up

        func measure(_ source: any ImageSource) throws -> Double {
            let loader = try DataLoader(source: source, batchSize: batch, transform: transform, seed: 1, threads: workers,
                                        prefetch: max(2, workers), compute: compute)
            _ = try loader.next()
            let start = Date()
            for _ in 0..<batches { _ = try loader.next() }
            return Double(batches * batch) / Date().timeIntervalSince(start)
        }
        let aug = "RandomResizedCrop + flip" + (randAugment.isEmpty ? "" : " + RandAugment \(randAugment)")
        let jpeg = try measure(ImageFolderFiles(scan, channels: 3))
        print(String(format: "JPEG decode + %@ → %d px, %d loader thread%@: %.0f images/s", aug, size, workers, workers == 1 ? "" : "s", jpeg))

        t = Date()
        let cachePath = root + "/cache.pack"
        try PackedCache.build(scan, size: sourceSize, channels: 3, to: cachePath, threads: compute.threads)
        let built = Date().timeIntervalSince(t)
        let cache = try PackedCache(path: cachePath)
        let packed = try measure(cache)
        print(String(format: "packed cache (built in %.1f s, %d MB) + %@ → %d px, %d loader thread%@: %.0f images/s", built,
                     (try FileManager.default.attributesOfItem(atPath: cachePath)[.size] as? Int ?? 0) >> 20, aug, size, workers,
                     workers == 1 ? "" : "s", packed))

        guard steps > 0 else { return }
        let c = Preset.vitTiny.config
        let model = try PretrainModel(vit: c.model, method: c.method)
        var rng = RNG(seed: 1)
        model.initialize(rng: &rng)
        let optimizer = AdamW(params: model.params, beta1: 0.9, beta2: 0.95, weightDecay: 0.05)
        let images = Tensor(shape: [trainBatch, 3, c.model.imgSize, c.model.imgSize])
        for i in 0..<images.count { images.data[i] = Float(rng.normal()) }
        func step() {
            model.params.zeroGrads()
            _ = model.forward(images: images, batch: trainBatch, training: true, rng: &rng, compute: compute)
            model.backward(compute: compute)
            _ = GradientClipping.clip(model.params, maxNorm: 5)
            optimizer.update(lr: 1e-4, compute: compute)
        }
        step()   // warm-up: buffers sized, pages touched
        t = Date()
        for _ in 0..<steps { step() }
        let train = Double(steps * trainBatch) / Date().timeIntervalSince(t)
        print(String(format: "vit-tiny ROPIM training step at %d px, batch %d, %d kernel threads: %.1f images/s", c.model.imgSize,
                     trainBatch, compute.threads, train))
        print(String(format: "loader headroom: JPEG %.0f×, packed cache %.0f× the training step's rate", jpeg / train, packed / train))
    }
}
