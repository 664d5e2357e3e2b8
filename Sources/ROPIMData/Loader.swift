// Images → normalized [B, C, S, S] batches: the per-sample transform (crop, flip, photometric ops,
// erasing) and a loader that builds batches on background threads ahead of training. Each sample's
// draws come from an RNG derived from (seed, epoch, image index), so batches are the same for any
// thread count, and a position (epoch, batch) is all a checkpoint needs to resume the same stream.

import Foundation
import ROPIMKernels

// MARK: Per-sample transform

/// How one image becomes one [C, S, S] slice of a batch.
public struct SampleTransform: Sendable {
    public enum Mode: Sendable {
        /// Training augmentation.
        case train(AugmentConfig)
        /// The whole image resized to S×S (bilinear, no draws): the pre-training default without augmentation.
        case resize
        /// Evaluation: shorter side to S / fraction, centre S×S crop, antialiased (timm's crop_pct, 0.875).
        case centerCrop(fraction: Double, interpolation: Interpolation)
    }

    public let size: Int
    public let outChannels: Int
    public let normalization: Normalization
    public let mode: Mode
    let jitter: ColorJitter?
    let randAugment: RandAugment?
    let erasing: RandomErasing?
    /// Fill of geometric RandAugment ops: the normalization mean as bytes (timm's img_mean).
    let fill: [UInt8]

    /// Training transform from `augment` (nil: `.resize`). Throws on a malformed augment config.
    public init(size: Int, outChannels: Int, normalization: Normalization, augment: AugmentConfig?) throws {
        try self.init(size: size, outChannels: outChannels, normalization: normalization, mode: augment.map { .train($0) } ?? .resize)
    }

    public init(size: Int, outChannels: Int, normalization: Normalization, mode: Mode) throws {
        precondition(size > 0 && (outChannels == 1 || outChannels == 3), "transform to \(outChannels)×\(size)×\(size)")
        guard normalization.fits(channels: outChannels) else {
            throw DataError("normalization has \(normalization.mean.count) channels, input has \(outChannels)")
        }
        self.size = size; self.outChannels = outChannels; self.normalization = normalization; self.mode = mode
        if case .train(let a) = mode {
            try a.validate()
            randAugment = a.randAugment.isEmpty ? nil : try RandAugment(spec: a.randAugment)
            jitter = a.colorJitter.isEmpty || randAugment != nil ? nil : try ColorJitter(a.colorJitter)
            erasing = a.reprob > 0 ? RandomErasing(prob: a.reprob) : nil
        } else {
            randAugment = nil; jitter = nil; erasing = nil
        }
        fill = (0..<outChannels).map { PixelOps.clampByte(normalization.mean($0) * 255) }
    }

    /// Transforms `v` into out [outChannels, size, size], drawing from `rng` in a fixed order: crop box,
    /// flip, RandAugment or ColorJitter, erasing.
    public func apply(_ v: ImageView, rng: inout RNG, into out: UnsafeMutablePointer<Float>) {
        precondition(v.channels == outChannels || v.channels == 1,
                     "cannot make \(outChannels)-channel input from \(v.channels)-channel images")
        switch mode {
        case .resize:
            Transforms.resizedCrop(v.pixels, channels: v.channels, height: v.height, width: v.width,
                                   box: .full(height: v.height, width: v.width), size: size, flip: false,
                                   outChannels: outChannels, normalization: normalization, into: out)
        case .centerCrop(let fraction, let interpolation):
            let box = Resample.centerBox(height: v.height, width: v.width, cropFraction: fraction)
            resampleNormalized(v, box: box, interpolation: interpolation, antialias: true, flip: false, into: out)
        case .train(let a):
            let box = a.randomResizedCrop
                ? Transforms.randomResizedCropBox(height: v.height, width: v.width, scale: a.scaleRange, ratio: a.ratioRange, rng: &rng)
                : CropBox.full(height: v.height, width: v.width)
            let flip = a.horizontalFlip ? rng.bernoulli(0.5) : false
            if randAugment != nil || jitter != nil {
                var img = resampledBytes(v, box: box, interpolation: a.interpolation, flip: flip)
                if let randAugment { randAugment.apply(&img, fill: fill, rng: &rng) } else { jitter!.apply(&img, rng: &rng) }
                normalize(img, into: out)
            } else if a.interpolation == .bilinear {
                Transforms.resizedCrop(v.pixels, channels: v.channels, height: v.height, width: v.width, box: box, size: size,
                                       flip: flip, outChannels: outChannels, normalization: normalization, into: out)
            } else {
                resampleNormalized(v, box: box, interpolation: a.interpolation, antialias: false, flip: flip, into: out)
            }
            erasing?.apply(out, channels: outChannels, height: size, width: size, rng: &rng)
        }
    }

    /// Resampled crop as a uint8 image with `outChannels` channels (gray replicated), as PIL holds it.
    func resampledBytes(_ v: ImageView, box: CropBox, interpolation: Interpolation, flip: Bool) -> UInt8Image {
        var bytes = Resample.resampled(v, box: box, size: size, interpolation: interpolation, antialias: false, flip: flip)
            .map(Resample.toByte)
        if v.channels == 1 && outChannels == 3 { bytes = bytes + bytes + bytes }
        return UInt8Image(channels: outChannels, height: size, width: size, pixels: bytes)
    }

    func normalize(_ img: UInt8Image, into out: UnsafeMutablePointer<Float>) {
        let plane = size * size
        for c in 0..<outChannels {
            let m = normalization.mean(c), s = normalization.std(c)
            for k in 0..<plane { out[c * plane + k] = (Float(img.pixels[c * plane + k]) / 255 - m) / s }
        }
    }

    func resampleNormalized(_ v: ImageView, box: CropBox, interpolation: Interpolation, antialias: Bool, flip: Bool,
                            into out: UnsafeMutablePointer<Float>) {
        let plane = size * size
        let f = Resample.resampled(v, box: box, size: size, interpolation: interpolation, antialias: antialias, flip: flip)
        for c in 0..<outChannels {
            let src = (v.channels == 1 ? 0 : c) * plane
            let m = normalization.mean(c), s = normalization.std(c)
            // Bicubic overshoots; clamp to the pixel range as torchvision does for uint8 images.
            for k in 0..<plane { out[c * plane + k] = (max(0, min(255, f[src + k])) / 255 - m) / s }
        }
    }
}

// MARK: Loader

/// Where a loader stands: the next batch it will return. Codable, for checkpoints.
public struct LoaderPosition: Codable, Equatable, Sendable {
    /// The loader's seed (epoch orders and per-sample draws derive from it).
    public var seed: UInt64
    public var epoch: Int
    /// Batch index within the epoch.
    public var batch: Int
    public init(seed: UInt64, epoch: Int, batch: Int) { self.seed = seed; self.epoch = epoch; self.batch = batch }
}

/// One collated batch. `images` is [B, C, S, S] normalized; it belongs to the caller.
public struct Batch: @unchecked Sendable {
    public let images: Tensor
    /// Class index per image when the source is labelled.
    public let labels: [Int32]?
    /// Source index per image (after --skip-bad substitution).
    public let indices: [Int]
    public let epoch: Int
    public let batch: Int
}

/// Shuffled, transformed, collated batches, built ahead on `threads` background threads (0: built on
/// the calling thread, parallel over the batch with `compute`). At most `prefetch` batches wait.
public final class DataLoader {
    let engine: Engine
    public var source: any ImageSource { engine.source }
    public var batchSize: Int { engine.batchSize }
    public var batchesPerEpoch: Int { engine.batchesPerEpoch }
    public let threads: Int
    /// Builds the batch on the calling thread when `threads` is 0.
    public let compute: ComputeContext

    /// - Parameters:
    ///   - dropLast: leave out the last partial batch of each epoch (else it is returned, smaller).
    ///   - batchesPerEpoch: cap on batches per epoch (the trainer's steps × accumulation), default all.
    ///   - skipBad: a sample whose file fails to decode is replaced by the next one in the epoch order and
    ///     reported in `skipped`; otherwise `next()` throws its error.
    ///   - start: resume here (its seed must equal `seed`).
    ///   - compute: parallelizes a batch over its images when `threads` is 0.
    ///   - rank, worldSize: data-parallel sharding (DDP's DistributedSampler, by position): each epoch's order
    ///     is cut into global batches of `batchSize × worldSize` images and this rank takes images
    ///     `rank·batchSize ..< (rank+1)·batchSize` of each, so the ranks together see exactly the batches one
    ///     process sees with `batchSize × worldSize`. Needs `dropLast`.
    public init(source: any ImageSource, batchSize: Int, transform: SampleTransform, seed: UInt64, shuffle: Bool = true,
                dropLast: Bool = true, batchesPerEpoch: Int? = nil, threads: Int = 0, prefetch: Int = 2,
                skipBad: Bool = false, start: LoaderPosition? = nil, rank: Int = 0, worldSize: Int = 1,
                compute: ComputeContext) throws {
        precondition(batchSize > 0, "batch size \(batchSize)")
        precondition(worldSize >= 1 && (0..<worldSize).contains(rank) && (dropLast || worldSize == 1), "rank \(rank) of \(worldSize)")
        let global = batchSize * worldSize
        let full = dropLast ? source.count / global : (source.count + batchSize - 1) / batchSize
        guard full > 0 else {
            throw DataError("\(source.source): \(source.count) images, fewer than one batch of \(global)\(worldSize > 1 ? " (\(batchSize) per rank × \(worldSize) ranks)" : ""); lower the batch size or add data")
        }
        guard source.channels == transform.outChannels || source.channels == 1 else {
            throw DataError("\(source.source): \(source.channels)-channel images cannot feed a \(transform.outChannels)-channel model; "
                + "set model.in_chans to \(source.channels)")
        }
        let bpe = min(full, batchesPerEpoch ?? full)
        var first = 0
        if let start {
            guard start.seed == seed else {
                throw DataError("loader position was saved with seed \(start.seed), this run uses \(seed); resume with the same seed")
            }
            guard start.epoch >= 0, start.epoch < Int.max / bpe, (0..<bpe).contains(start.batch) else {
                throw DataError("loader position epoch \(start.epoch) batch \(start.batch) is outside 0..<\(bpe) batches per epoch; "
                    + "resume with the same data and batch size")
            }
            first = start.epoch * bpe + start.batch
        }
        self.threads = max(0, threads)
        self.compute = compute
        engine = Engine(source: source, batchSize: batchSize, batchesPerEpoch: bpe, transform: transform, seed: seed,
                        shuffle: shuffle, skipBad: skipBad, first: first, prefetch: max(prefetch, threads, 1),
                        rank: rank, worldSize: worldSize)
        for _ in 0..<self.threads {
            let e = engine
            e.running += 1
            let t = Thread { e.work() }
            t.name = "ropim-loader"
            t.start()
        }
    }

    deinit { engine.stop() }

    /// The position of the batch `next()` returns next.
    public var position: LoaderPosition {
        engine.cond.lock(); defer { engine.cond.unlock() }
        let g = engine.consumed
        return LoaderPosition(seed: engine.seed, epoch: g / engine.batchesPerEpoch, batch: g % engine.batchesPerEpoch)
    }

    /// Files skipped so far (with `skipBad`), each once.
    public var skipped: SkipReport {
        engine.cond.lock(); defer { engine.cond.unlock() }
        return SkipReport(skipped: engine.skippedFiles.keys.sorted().map { engine.skippedFiles[$0]! })
    }

    /// The next batch; epochs follow one another without end.
    public func next() throws -> Batch {
        if threads == 0 {
            let g = engine.consumed
            let b = try engine.build(g, compute: compute)
            engine.cond.lock(); engine.consumed += 1; engine.scheduled = engine.consumed; engine.cond.unlock()
            return b
        }
        engine.cond.lock()
        while engine.ready[engine.consumed] == nil { engine.cond.wait() }
        let r = engine.ready.removeValue(forKey: engine.consumed)!
        engine.consumed += 1
        engine.cond.broadcast()
        engine.cond.unlock()
        return try r.get()
    }

    /// The image order of `epoch` (a seeded permutation, or 0..<count without shuffling).
    public func order(epoch: Int) -> [Int] { engine.order(epoch) }

    /// The shared state of a loader and its threads (the threads hold this, not the loader, so the loader's
    /// deinit can stop them).
    final class Engine: @unchecked Sendable {
        let source: any ImageSource
        let batchSize: Int, batchesPerEpoch: Int
        let transform: SampleTransform
        let seed: UInt64
        let shuffle: Bool, skipBad: Bool
        let prefetch: Int
        let rank: Int, worldSize: Int
        let cond = NSCondition()
        // Guarded by cond.
        var consumed: Int, scheduled: Int
        var ready: [Int: Result<Batch, Error>] = [:]
        var orders: [Int: [Int]] = [:]
        var skippedFiles: [Int: SkippedFile] = [:]
        var stopping = false
        var running = 0

        init(source: any ImageSource, batchSize: Int, batchesPerEpoch: Int, transform: SampleTransform, seed: UInt64,
             shuffle: Bool, skipBad: Bool, first: Int, prefetch: Int, rank: Int, worldSize: Int) {
            self.source = source; self.batchSize = batchSize; self.batchesPerEpoch = batchesPerEpoch
            self.transform = transform; self.seed = seed; self.shuffle = shuffle; self.skipBad = skipBad
            self.prefetch = prefetch; consumed = first; scheduled = first
            self.rank = rank; self.worldSize = worldSize
        }

        func order(_ epoch: Int) -> [Int] {
            cond.lock(); defer { cond.unlock() }
            if let o = orders[epoch] { return o }
            var rng = RNG(seed: RNG.splitMix64(seed ^ 0x0DE7_0DE7) ^ UInt64(truncatingIfNeeded: epoch))
            let o = shuffle ? rng.permutation(source.count) : Array(0..<source.count)
            orders = orders.filter { $0.key >= epoch - 1 }   // threads may still finish the previous epoch
            orders[epoch] = o
            return o
        }

        func work() {
            while true {
                cond.lock()
                while !stopping && scheduled >= consumed + prefetch { cond.wait() }
                if stopping { running -= 1; cond.broadcast(); cond.unlock(); return }
                let g = scheduled
                scheduled += 1
                cond.unlock()
                let r = Result { try build(g, compute: .serial) }   // one batch per loader thread
                cond.lock(); ready[g] = r; cond.broadcast(); cond.unlock()
            }
        }

        func stop() {
            cond.lock()
            stopping = true
            cond.broadcast()
            while running > 0 { cond.wait() }
            cond.unlock()
        }

        /// Builds batch `g` (epoch g / batchesPerEpoch): this rank's share of the epoch's global batch.
        func build(_ g: Int, compute: ComputeContext) throws -> Batch {
            let epoch = g / batchesPerEpoch, b = g % batchesPerEpoch
            let order = self.order(epoch)
            let lo = (b * worldSize + rank) * batchSize, hi = min(lo + batchSize, order.count)
            var indices = Array(order[lo..<hi])
            let n = indices.count, s = transform.size, c = transform.outChannels, per = c * s * s
            let images = Tensor(shape: [n, c, s, s])
            var failures = [String?](repeating: nil, count: n)
            let (dst, src, t, seed) = (images.data, source, transform, seed)
            failures.withUnsafeMutableBufferPointer { fail in
                let errs = fail.baseAddress!
                let one = { (k: Int) in
                    var rng = RNG.image(seed: seed, epoch: epoch, index: indices[k])
                    do { try src.withImage(indices[k]) { t.apply($0, rng: &rng, into: dst + k * per) } } catch { errs[k] = "\(error)" }
                }
                compute.forEach(n, one)
            }
            // Failed samples, in batch order: an error, or (skipBad) the next image of the epoch order that loads.
            for k in 0..<n where failures[k] != nil {
                guard skipBad else { throw DataError(failures[k]!) }
                record(indices[k], failures[k]!)
                var pos = lo + k, replaced = false
                for _ in 1..<order.count {
                    pos = (pos + 1) % order.count
                    let idx = order[pos]
                    var rng = RNG.image(seed: seed, epoch: epoch, index: idx)
                    do {
                        try src.withImage(idx) { t.apply($0, rng: &rng, into: dst + k * per) }
                        indices[k] = idx; replaced = true
                        break
                    } catch { record(idx, "\(error)") }
                }
                guard replaced else { throw DataError("\(src.source): no image could be decoded; check the files") }
            }
            let labels = indices.map { src.label($0) }
            return Batch(images: images, labels: labels.contains(nil) ? nil : labels.map { $0! }, indices: indices,
                         epoch: epoch, batch: b)
        }

        func record(_ index: Int, _ reason: String) {
            cond.lock(); defer { cond.unlock() }
            if skippedFiles[index] == nil {
                let path = (source as? ImageFolderFiles)?.path(index) ?? "\(source.source) image \(index)"
                skippedFiles[index] = SkippedFile(path: path, reason: reason)
            }
        }
    }
}
