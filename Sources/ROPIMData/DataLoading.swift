// Turns the data section of a config into images: in memory (IDX, CIFAR, synthetic, image folders) or a
// memory-mapped packed cache, with the hold-out split, the seeded subset and the --skip-bad report.

import Foundation
import ROPIMKernels

/// What `loadData` produced.
public struct LoadedData {
    /// The training images.
    public var source: any ImageSource
    /// The dataset kind after auto-detection.
    public var kind: DatasetKind
    /// Class names (index = class) when the files name them; written to the run directory as classes.txt.
    public var classNames: [String]?
    /// Files left out with --skip-bad while loading.
    public var report: SkipReport
    /// Whether a packed cache was built (rather than reused) by this load.
    public var builtCache: Bool
    /// With a packed cache: whether it was reused or rebuilt, and why (for the log).
    public var cacheReason: String? = nil
}

/// `kind`, or for `.auto` what the files in `path` are: IDX, CIFAR-10/100 binaries, else an image folder.
public func resolveDatasetKind(_ kind: DatasetKind, path: String) throws -> DatasetKind {
    guard kind == .auto else { return kind }
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw DataError("\(path): data folder does not exist; pass --data an image folder (<class>/<image>), a CIFAR binary folder or an IDX folder")
    }
    guard isDir.boolValue else { throw DataError("\(path): is a file; pass --data the folder holding the dataset") }
    if IDX.find(IDXSplit.train.imagesName, in: path) != nil || IDX.find(IDXSplit.test.imagesName, in: path) != nil { return .idx }
    switch CIFAR.detect(path) {
    case 10: return .cifar10
    case 100: return .cifar100
    default: return .imagefolder
    }
}

/// Loads the configured images: IDX/CIFAR/synthetic/image folders in memory, or an image folder through
/// its packed cache when `data.cache` is set; then the hold-out split (`data.val_fraction`: train keeps
/// the rest) and `data.subset`.
/// - Parameters:
///   - imgSize, channels: the model's input (synthetic images are made at this size; image folders are
///     stored at `data.store_size`, 0 = `imgSize`, with `channels` channels).
///   - seed: the run's seed (synthetic images, the hold-out and the subset).
///   - compute: its threads decode image folders and draw synthetic images.
public func loadData(_ c: DataConfig, imgSize: Int, channels: Int, seed runSeed: Int, compute: ComputeContext) throws -> LoadedData {
    let kind = try resolveDatasetKind(c.dataset, path: c.path)
    let seed = UInt64(truncatingIfNeeded: runSeed)
    let decodeThreads = compute.threads
    let size = c.storeSize > 0 ? c.storeSize : imgSize
    var report = SkipReport()
    var d: ImageDataset
    switch kind {
    case .auto: fatalError("resolved above")
    case .idx:
        guard c.split != "val" else { throw DataError("data.split val: IDX folders hold train and test; use data.val_fraction for a hold-out") }
        d = try IDX.loadFolder(c.path, split: c.split == "test" ? .test : .train)
    case .synthetic:
        d = SyntheticImages.make(count: c.syntheticCount, channels: channels, size: imgSize,
                                 classes: 10, seed: seed, compute: compute)
    case .cifar10:
        d = try CIFAR.load10(c.path, split: c.split)
    case .cifar100:
        d = try CIFAR.load100(c.path, split: c.split, labels: c.cifarLabels)
    case .imagefolder:
        // val/ and test/ number their classes from train/'s class folders.
        let scan = try ImageFolder.scanSplit(c.path, split: c.split, layout: c.layout, skipBad: c.skipBad)
        if !c.cache.isEmpty {
            let p = try PackedCache.prepare(scan, size: size, channels: channels, path: c.cache, skipBad: c.skipBad,
                                            threads: decodeThreads)
            let indices = selection(count: p.cache.count, c: c, seed: seed)
            let source: any ImageSource = indices.map { IndexedSource(base: p.cache, indices: $0) } ?? p.cache
            return LoadedData(source: source, kind: kind, classNames: scan.classNames, report: p.report, builtCache: p.built,
                              cacheReason: p.reason)
        }
        (d, report) = try ImageFolder.decodeAll(scan, size: size, channels: channels, skipBad: c.skipBad,
                                                threads: decodeThreads)
    }
    if let indices = selection(count: d.count, c: c, seed: seed) { d = d.subset(indices) }
    return LoadedData(source: d, kind: kind, classNames: d.classNames, report: report, builtCache: false)
}

/// The images training uses after the hold-out and the subset (nil = all, in order). The subset is the
/// seeded-shuffle prefix of `ImageDataset.seededSubset`, so `--subset` picks the same images as before.
func selection(count: Int, c: DataConfig, seed: UInt64) -> [Int]? {
    var keep = Array(0..<count)
    if c.valFraction > 0 {
        var rng = RNG(seed: seed).derived(stream: 0x7A1)
        let nVal = max(1, Int((Double(count) * c.valFraction).rounded()))
        let val = Set(rng.permutation(count).prefix(nVal))
        keep = keep.filter { !val.contains($0) }
    }
    if c.subset > 0 && c.subset < keep.count {
        var rng = RNG(seed: seed).derived(stream: 0x5B5E7)
        keep = rng.permutation(keep.count).prefix(c.subset).map { keep[$0] }
    }
    return keep.count == count ? nil : keep
}

/// Loads the configured images into memory (every kind but a packed cache), for tests and tools.
public func loadDataset(_ c: DataConfig, imgSize: Int, channels: Int, seed: Int, compute: ComputeContext) throws -> ImageDataset {
    var mem = c
    mem.cache = ""
    guard let d = try loadData(mem, imgSize: imgSize, channels: channels, seed: seed, compute: compute).source as? ImageDataset else {
        fatalError("in-memory load returned another source")
    }
    return d
}

/// A view of some images of another source (a hold-out or subset of a packed cache).
public struct IndexedSource: ImageSource {
    public let base: any ImageSource
    public let indices: [Int]
    public var count: Int { indices.count }
    public var channels: Int { base.channels }
    public var source: String { base.source }
    public var classes: Int? { base.classes }
    public func label(_ i: Int) -> Int32? { base.label(indices[i]) }
    public func withImage<R>(_ i: Int, _ body: (ImageView) throws -> R) throws -> R { try base.withImage(indices[i], body) }
}
