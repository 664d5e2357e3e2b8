// What the loader reads from: images by index, in memory (ImageDataset), memory-mapped (PackedCache)
// or decoded from files on every access (ImageFolderFiles); plus the record of files skipped as bad.

import Foundation

/// One image as the transforms read it: uint8, channel-first, borrowed for the duration of a call.
public struct ImageView {
    public let pixels: UnsafePointer<UInt8>
    public let channels: Int
    public let height: Int
    public let width: Int
}

/// Images addressed by index. Every image has `channels` channels; sizes may differ per image.
public protocol ImageSource: Sendable {
    var count: Int { get }
    var channels: Int { get }
    /// Human-readable origin (a path or "synthetic") for messages.
    var source: String { get }
    /// Number of classes when labelled.
    var classes: Int? { get }
    /// Class index of image `i`, nil when unlabelled.
    func label(_ i: Int) -> Int32?
    /// Calls `body` with image `i`. Sources that decode on access throw a DataError naming the file.
    func withImage<R>(_ i: Int, _ body: (ImageView) throws -> R) throws -> R
}

extension ImageDataset: ImageSource {
    public func label(_ i: Int) -> Int32? { labels?[i] }

    public func withImage<R>(_ i: Int, _ body: (ImageView) throws -> R) throws -> R {
        precondition(i >= 0 && i < count, "image \(i) outside 0..<\(count)")
        return try pixels.withUnsafeBufferPointer { px in
            try body(ImageView(pixels: px.baseAddress! + i * imageSize, channels: channels, height: height, width: width))
        }
    }
}

/// A file left out because it could not be used, with the reason (the DataError's text).
public struct SkippedFile: Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) { self.path = path; self.reason = reason }
    public var description: String { reason.hasPrefix(path) ? reason : "\(path): \(reason)" }
}

/// The files skipped with --skip-bad, for the end-of-run report.
public struct SkipReport: Sendable {
    public var skipped: [SkippedFile] = []
    public init(skipped: [SkippedFile] = []) { self.skipped = skipped }

    public var isEmpty: Bool { skipped.isEmpty }

    /// "skipped N bad files:" and the first `limit` reasons, one a line.
    public func summary(limit: Int = 10) -> String {
        guard !skipped.isEmpty else { return "skipped no files" }
        var lines = ["skipped \(skipped.count) bad file\(skipped.count == 1 ? "" : "s") (--skip-bad):"]
        lines += skipped.prefix(limit).map { "  " + $0.description }
        if skipped.count > limit { lines.append("  … and \(skipped.count - limit) more") }
        return lines.joined(separator: "\n")
    }
}
