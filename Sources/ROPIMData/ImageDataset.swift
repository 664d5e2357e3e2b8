// The in-memory image set every data source decodes into: uint8 pixels, channel-first per image,
// so loaders (IDX files, synthetic images) and the batch builder meet at one plain layout.

import Foundation
import ROPIMKernels

/// Decoded images in memory, uint8, channel-first per image:
/// `pixels[((i * channels + c) * height + y) * width + x]`.
public struct ImageDataset: Sendable {
    public var count: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    public var pixels: [UInt8]
    /// Class index per image; nil for unlabelled data.
    public var labels: [Int32]?
    /// Number of classes when labelled (labels lie in 0..<classes).
    public var classes: Int?
    /// Human-readable origin: a file path or "synthetic".
    public var source: String
    /// Class names when known (folder names, CIFAR meta files); index = class index.
    public var classNames: [String]?

    public init(count: Int, channels: Int, height: Int, width: Int, pixels: [UInt8],
                labels: [Int32]? = nil, classes: Int? = nil, source: String, classNames: [String]? = nil) {
        precondition(count >= 0 && channels > 0 && height > 0 && width > 0,
                     "bad image dataset shape: \(count)×\(channels)×\(height)×\(width)")
        precondition(pixels.count == count * channels * height * width,
                     "\(pixels.count) pixels for \(count)×\(channels)×\(height)×\(width) images")
        if let labels {
            precondition(labels.count == count, "\(labels.count) labels for \(count) images")
            precondition(classes != nil, "labelled dataset needs a class count")
            let c = Int32(classes!)
            precondition(labels.allSatisfy { $0 >= 0 && $0 < c }, "labels outside 0..<\(c)")
        }
        self.count = count
        self.channels = channels
        self.height = height
        self.width = width
        self.pixels = pixels
        self.labels = labels
        self.classes = classes
        self.source = source
        self.classNames = classNames
    }

    /// Bytes of one image (channels × height × width).
    public var imageSize: Int { channels * height * width }

    /// The images at `indices`, in that order (repeats allowed); labels and class count carried over.
    public func subset(_ indices: [Int]) -> ImageDataset {
        let n = imageSize
        var out = [UInt8](repeating: 0, count: indices.count * n)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (k, i) in indices.enumerated() {
                    precondition(i >= 0 && i < count, "subset index \(i) outside 0..<\(count)")
                    dst.baseAddress!.advanced(by: k * n).update(from: src.baseAddress!.advanced(by: i * n), count: n)
                }
            }
        }
        return ImageDataset(count: indices.count, channels: channels, height: height, width: width, pixels: out,
                            labels: labels.map { l in indices.map { l[$0] } }, classes: classes, source: source,
                            classNames: classNames)
    }

    /// The first `n` images of a shuffle seeded by `seed` (for `--subset N`), in shuffled order.
    /// Deterministic for a seed, and nested: the subset of n is a prefix of the subset of m > n.
    /// `n` larger than the dataset takes every image.
    public func seededSubset(_ n: Int, seed: UInt64) -> ImageDataset {
        precondition(n >= 0, "negative subset size \(n)")
        return subset(Array(ImageDataset.seededOrder(count, seed: seed).prefix(n)))
    }

    /// The seeded shuffle `seededSubset` takes its prefix of: a permutation of 0..<count.
    public static func seededOrder(_ count: Int, seed: UInt64) -> [Int] {
        var rng = RNG(seed: seed).derived(stream: 0x5B5E7)
        return rng.permutation(count)
    }

    /// Two disjoint parts of the same seeded shuffle: its first `n` images (exactly `seededSubset(n)`)
    /// and the `m` images after them (a hold-out that shares no image with the first part, nor with any
    /// `seededSubset(n' ≤ n)` of the same seed). Needs n + m ≤ count.
    public func seededSplit(first n: Int, next m: Int, seed: UInt64) -> (first: ImageDataset, next: ImageDataset) {
        precondition(n >= 0 && m >= 0 && n + m <= count, "seeded split \(n) + \(m) of \(count) images")
        let order = ImageDataset.seededOrder(count, seed: seed)
        return (subset(Array(order[0..<n])), subset(Array(order[n..<(n + m)])))
    }

    /// A seeded hold-out split: `fraction` of the images (rounded, at least 1 when fraction > 0) go to
    /// `val`, the rest to `train`, both in their original order. Deterministic for a seed.
    public func holdOut(fraction: Double, seed: UInt64) -> (train: ImageDataset, val: ImageDataset) {
        precondition(fraction >= 0 && fraction < 1, "hold-out fraction \(fraction) outside [0, 1)")
        var rng = RNG(seed: seed).derived(stream: 0x7A1)
        let order = rng.permutation(count)
        let nVal = fraction > 0 ? Swift.max(1, Int((Double(count) * fraction).rounded())) : 0
        let val = Set(order.prefix(nVal))
        return (subset((0..<count).filter { !val.contains($0) }), subset((0..<count).filter { val.contains($0) }))
    }
}

/// A data problem the user can fix: the message says what is wrong, where (the file), and how to fix it.
public struct DataError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public init(_ description: String) { self.description = description }
    public var errorDescription: String? { description }
}
