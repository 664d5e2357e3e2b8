// The data side of `ropim bench-data`: how many augmented, normalized images per second the loader builds
// from JPEG files (decoded on the fly) and from a packed cache of the same files, with N loader threads.

import Foundation
import Logging
import ROPIMKernels

/// What `LoaderBench` measures. Every number is checked once, by `validate()`.
public struct LoaderBenchSettings: Equatable, Sendable {
    /// Synthetic JPEG files to write (≥ 2 batches: one warms up).
    public var count = 512
    /// Side of the generated JPEGs in pixels.
    public var sourceSize = 256
    /// Side of the images the loader builds (the model input).
    public var size = 224
    /// Images per batch.
    public var batch = 64
    /// Loader threads (0 = build on the calling thread, parallel over the batch).
    public var workers = 2
    /// Augmentation of every image (RandomResizedCrop + flip, optionally RandAugment).
    public var augment = AugmentConfig()
    public init() {}

    public func validate() throws {
        func fail(_ s: String) throws -> Never { throw DataError(s) }
        if !(1...8192).contains(sourceSize) { try fail("--source-size must be in 1...8192 px, got \(sourceSize)") }
        if !(1...8192).contains(size) { try fail("--size must be in 1...8192 px, got \(size)") }
        if batch < 1 { try fail("--batch must be at least 1, got \(batch)") }
        if count < 2 * batch { try fail("--count must be at least twice --batch (one batch warms up), got \(count) for batch \(batch)") }
        if workers < 0 { try fail("--workers must be ≥ 0 (0 = build on the calling thread), got \(workers)") }
        do { try augment.validate() } catch { try fail("\(error)") }
    }
}

public struct LoaderBenchResult: Sendable {
    public var jpegBytes = 0
    public var writeSeconds = 0.0
    public var jpegImagesPerSecond = 0.0
    public var cacheSeconds = 0.0
    public var cacheBytes = 0
    public var packedImagesPerSecond = 0.0
}

public enum LoaderBench {
    /// Writes the JPEGs to `root`/images, then times the loader over them and over a packed cache built
    /// with `compute`'s threads decoding (`root`/cache.pack); `compute` also draws the synthetic images and
    /// builds the loader's calling-thread batches. `logger` gets one line per stage.
    public static func run(_ s: LoaderBenchSettings, root: String, compute: ComputeContext,
                           logger: Logger = Logger.current) throws -> LoaderBenchResult {
        try s.validate()
        var r = LoaderBenchResult()
        var t = Date()
        let synthetic = SyntheticImages.make(count: s.count, channels: 3, size: s.sourceSize, classes: 8, seed: 1, compute: compute)
        for i in 0..<s.count {
            let img = UInt8Image(channels: 3, height: s.sourceSize, width: s.sourceSize,
                                 pixels: Array(synthetic.pixels[i * synthetic.imageSize..<(i + 1) * synthetic.imageSize]))
            let bytes = try ImageCodec.encodeJPEG(img, quality: 90)
            r.jpegBytes += bytes.count
            let folder = root + "/images/class\(synthetic.labels![i])"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/\(i).jpg"))
        }
        r.writeSeconds = Date().timeIntervalSince(t)
        logger.info(.init(stringLiteral: String(format: "wrote %d JPEGs of %d×%d (%.0f KB each on average) in %.1f s to %@", s.count,
                                                s.sourceSize, s.sourceSize, Double(r.jpegBytes) / Double(s.count) / 1024, r.writeSeconds, root)))

        let transform = try SampleTransform(size: s.size, outChannels: 3, normalization: .imagenet, augment: s.augment)
        let scan = try ImageFolder.scan(root + "/images")
        let batches = s.count / s.batch - 1   // one batch warms up
        func measure(_ source: any ImageSource) throws -> Double {
            let loader = try DataLoader(source: source, batchSize: s.batch, transform: transform, seed: 1, threads: s.workers,
                                        prefetch: max(2, s.workers), compute: compute)
            _ = try loader.next()
            let start = Date()
            for _ in 0..<batches { _ = try loader.next() }
            return Double(batches * s.batch) / Date().timeIntervalSince(start)
        }
        let aug = "RandomResizedCrop + flip" + (s.augment.randAugment.isEmpty ? "" : " + RandAugment \(s.augment.randAugment)")
        let threadsText = "\(s.workers) loader thread\(s.workers == 1 ? "" : "s")"
        r.jpegImagesPerSecond = try measure(ImageFolderFiles(scan, channels: 3))
        logger.info(.init(stringLiteral: String(format: "JPEG decode + %@ → %d px, %@: %.0f images/s", aug, s.size, threadsText,
                                                r.jpegImagesPerSecond)))

        t = Date()
        let cachePath = root + "/cache.pack"
        try PackedCache.build(scan, size: s.sourceSize, channels: 3, to: cachePath, threads: compute.threads)
        r.cacheSeconds = Date().timeIntervalSince(t)
        r.cacheBytes = (try FileManager.default.attributesOfItem(atPath: cachePath)[.size] as? Int) ?? 0
        r.packedImagesPerSecond = try measure(try PackedCache(path: cachePath))
        logger.info(.init(stringLiteral: String(format: "packed cache (built in %.1f s, %d MB) + %@ → %d px, %@: %.0f images/s",
                                                r.cacheSeconds, r.cacheBytes >> 20, aug, s.size, threadsText, r.packedImagesPerSecond)))
        return r
    }
}
