// Folders of JPEG/PNG files: `root/<class>/…/<image>` (class index = position of the folder name in
// sorted order) or an unlabelled tree of any depth, with `train/` and `val/` split folders; a val/ or
// test/ split numbers its classes by train/'s folders. Images are decoded and stored at size×size:
// shorter side resized to `size` (antialiased bilinear), centre crop.

import Dispatch
import Foundation
import ROPIMFiles

/// How a folder maps to labels.
public enum FolderLayout: String, Codable, CaseIterable, Sendable {
    /// `classes` when the root holds sub-folders, `flat` when it holds only image files.
    case auto
    /// Every sub-folder of the root is a class; its images may lie at any depth below it.
    case classes
    /// No labels: every image below the root, at any depth.
    case flat
}

/// The files of an image folder, in a fixed order (classes sorted, files sorted within each).
public struct ImageFolderScan: Sendable {
    public var root: String
    public var files: [String]
    /// Class index per file (nil for a flat folder).
    public var labels: [Int32]?
    /// Sorted class folder names; index = class index.
    public var classNames: [String]?
    /// Empty class folders accepted by --skip-bad: their index stays reserved, so labels do not shift.
    public var report = SkipReport()
}

public enum ImageFolder {
    static let depthLimit = 32

    /// The folder for `split` ("train", "val", "test"): `root/<split>` when it exists (also "validation"
    /// for val), else `root` itself for train (a hold-out fraction then makes val), else an error.
    public static func splitRoot(_ root: String, split: String) throws -> String {
        let names = split == "val" ? ["val", "validation"] : [split]
        for n in names where isDirectory((root as NSString).appendingPathComponent(n)) {
            return (root as NSString).appendingPathComponent(n)
        }
        if split == "train" { return root }
        throw DataError("\(root): no \(names.joined(separator: "/")) folder; add \(root)/\(split)/<class>/<images>, "
            + "or use data.val_fraction to hold out part of the training images")
    }

    /// Scans the `split` folder of `root` (see `splitRoot`). A split other than train takes its class
    /// indices from the training split's class folders, so that label k is the same class in every split.
    public static func scanSplit(_ root: String, split: String, layout: FolderLayout = .auto,
                                 skipBad: Bool = false) throws -> ImageFolderScan {
        let dir = try splitRoot(root, split: split)
        guard split != "train" else { return try scan(dir, layout: layout, skipBad: skipBad) }
        let trainDir = try splitRoot(root, split: "train")
        return try scan(dir, layout: layout, skipBad: skipBad, classNames: try classFolders(trainDir, layout: layout),
                        classesFrom: trainDir)
    }

    /// The class names a scan of `root` gives (its sorted visible sub-folders), or nil when it is flat;
    /// lists no images.
    public static func classFolders(_ root: String, layout: FolderLayout = .auto) throws -> [String]? {
        guard layout != .flat, isDirectory(root) else { return nil }
        let dirs = try entries(root).dirs
        return dirs.isEmpty ? nil : dirs
    }

    /// Lists the images below `root` (JPEG/PNG by extension; hidden entries skipped). Errors: a missing
    /// root, no images, an empty class folder (unless `skipBad`), image files beside class folders.
    /// `classNames` (the training split's classes, from `classesFrom`, for messages) numbers the class
    /// folders by their position there instead of among `root`'s own folders; a folder not in it is an error.
    public static func scan(_ root: String, layout: FolderLayout = .auto, skipBad: Bool = false,
                            classNames: [String]? = nil, classesFrom: String = "the training split") throws -> ImageFolderScan {
        guard FileManager.default.fileExists(atPath: root) else {
            throw DataError("\(root): data folder does not exist; pass --data the folder holding <class>/<image> files")
        }
        guard isDirectory(root) else {
            throw DataError("\(root): is a file, not a folder; pass --data the folder holding <class>/<image> files")
        }
        let (dirs, files) = try entries(root)
        let topImages = files.filter(isImageName)
        let resolved: FolderLayout = layout != .auto ? layout : (dirs.isEmpty ? .flat : .classes)
        if resolved == .flat {
            var all = [String]()
            try collect(root, depth: 0, into: &all)
            guard !all.isEmpty else { throw noImages(root) }
            return ImageFolderScan(root: root, files: all, labels: nil, classNames: nil)
        }
        if !topImages.isEmpty {
            throw DataError("\(root): holds \(topImages.count) image file\(topImages.count == 1 ? "" : "s") (e.g. \(topImages[0])) "
                + "beside class folders, so their class is unknown; move them into a class folder, or set data.layout "
                + "to flat for unlabelled pre-training")
        }
        guard !dirs.isEmpty else { throw noImages(root) }
        let names = classNames ?? dirs
        let index = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        if let unknown = dirs.first(where: { index[$0] == nil }) {
            let others = dirs.filter { index[$0] == nil }.count - 1
            throw DataError("\((root as NSString).appendingPathComponent(unknown)): class folder '\(unknown)' is not one of the "
                + "\(names.count) classes of \(classesFrom)\(others > 0 ? " (nor are \(others) more folders here)" : ""), so it has "
                + "no class index; add a '\(unknown)' folder of training images to \(classesFrom), rename it to the "
                + "training class it holds, or remove it")
        }
        var out = ImageFolderScan(root: root, files: [], labels: [], classNames: names)
        for name in dirs {
            let k = index[name]!
            let dir = (root as NSString).appendingPathComponent(name)
            var found = [String]()
            try collect(dir, depth: 1, into: &found)
            if found.isEmpty {
                let message = "\(dir): class folder '\(name)' (class \(k)) holds no JPEG or PNG images; add images, remove "
                    + "the folder, or pass --skip-bad (the class keeps its index, so other labels do not shift)"
                guard skipBad else { throw DataError(message) }
                out.report.skipped.append(SkippedFile(path: dir, reason: message))
            }
            out.files += found
            out.labels! += [Int32](repeating: Int32(k), count: found.count)
        }
        guard !out.files.isEmpty else { throw noImages(root) }
        return out
    }

    static func noImages(_ root: String) -> DataError {
        DataError("\(root): no images found (looked for .jpg, .jpeg and .png files at any depth); "
            + "check the path, or lay the folder out as <class>/<image>")
    }

    static func isDirectory(_ path: String) -> Bool {
        var d: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &d) && d.boolValue
    }

    static func isImageName(_ name: String) -> Bool {
        ImageCodec.extensions.contains((name as NSString).pathExtension.lowercased())
    }

    /// Sorted visible sub-folders and files of `dir`.
    static func entries(_ dir: String) throws -> (dirs: [String], files: [String]) {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir) } catch {
            throw DataError("\(dir): cannot list the folder (\(error.localizedDescription)); check its permissions")
        }
        var dirs = [String](), files = [String]()
        for n in names.sorted() where !n.hasPrefix(".") {
            if isDirectory((dir as NSString).appendingPathComponent(n)) { dirs.append(n) } else { files.append(n) }
        }
        return (dirs, files)
    }

    /// Image paths below `dir`, depth-first in sorted order.
    static func collect(_ dir: String, depth: Int, into out: inout [String]) throws {
        guard depth < depthLimit else {
            throw DataError("\(dir): folders nest deeper than \(depthLimit) levels (a symbolic-link loop?); fix the link")
        }
        let (dirs, files) = try entries(dir)
        for f in files where isImageName(f) { out.append((dir as NSString).appendingPathComponent(f)) }
        for d in dirs { try collect((dir as NSString).appendingPathComponent(d), depth: depth + 1, into: &out) }
    }

    /// Decodes every scanned file into an in-memory dataset of `channels`×`size`×`size` images, on
    /// `threads` threads. A bad file is an error naming it (the first in file order, with the count of
    /// others) unless `skipBad`, which leaves it out and lists it in the report. Labels follow the files
    /// that were kept, so a skipped file never shifts another's label.
    public static func decodeAll(_ scan: ImageFolderScan, size: Int, channels: Int, skipBad: Bool = false,
                                 threads: Int = 1) throws -> (dataset: ImageDataset, report: SkipReport) {
        let n = scan.files.count, per = channels * size * size
        var pixels = [UInt8](repeating: 0, count: n * per)
        var failures = [String?](repeating: nil, count: n)
        pixels.withUnsafeMutableBufferPointer { px in
            failures.withUnsafeMutableBufferPointer { fail in
                let (dst, errs) = (px.baseAddress!, fail.baseAddress!)
                forEachParallel(n, threads: threads) { i in
                    do {
                        let img = Resample.shorterSideCenterCrop(try ImageCodec.decode(file: scan.files[i], channels: channels), size: size)
                        img.pixels.withUnsafeBufferPointer { (dst + i * per).update(from: $0.baseAddress!, count: per) }
                    } catch {
                        errs[i] = "\(error)"
                    }
                }
            }
        }
        var report = scan.report
        let bad = failures.indices.filter { failures[$0] != nil }
        if let first = bad.first {
            guard skipBad else {
                let more = bad.count > 1 ? " (and \(bad.count - 1) more bad file\(bad.count > 2 ? "s" : ""); --skip-bad skips them all)" : ""
                throw DataError(failures[first]! + more)
            }
            report.skipped += bad.map { SkippedFile(path: scan.files[$0], reason: failures[$0]!) }
            let keep = Set(0..<n).subtracting(bad).sorted()
            guard !keep.isEmpty else {
                throw DataError("\(scan.root): every one of the \(n) images failed to decode (first: \(failures[first]!))")
            }
            var kept = [UInt8](repeating: 0, count: keep.count * per)
            for (k, i) in keep.enumerated() { kept.replaceSubrange(k * per..<(k + 1) * per, with: pixels[i * per..<(i + 1) * per]) }
            pixels = kept
            let labels = scan.labels.map { l in keep.map { l[$0] } }
            return (ImageDataset(count: keep.count, channels: channels, height: size, width: size, pixels: pixels,
                                 labels: labels, classes: scan.classNames?.count, source: scan.root,
                                 classNames: scan.classNames), report)
        }
        return (ImageDataset(count: n, channels: channels, height: size, width: size, pixels: pixels, labels: scan.labels,
                             classes: scan.classNames?.count, source: scan.root, classNames: scan.classNames), report)
    }

    /// Scan + decode: the folder (or its `split` sub-folder) as an in-memory dataset.
    public static func load(_ root: String, split: String = "train", size: Int, channels: Int, layout: FolderLayout = .auto,
                            skipBad: Bool = false, threads: Int = 1) throws -> (dataset: ImageDataset, report: SkipReport) {
        let s = try scanSplit(root, split: split, layout: layout, skipBad: skipBad)
        return try decodeAll(s, size: size, channels: channels, skipBad: skipBad, threads: threads)
    }

    /// Writes `names` one a line (line k = class k) to `path`, atomically.
    public static func writeClasses(_ names: [String], to path: String) throws {
        try AtomicFile.write(Data((names.joined(separator: "\n") + "\n").utf8), to: path)
    }

    /// Runs body(i) for i in 0..<count over `threads` contiguous chunks (own threads: decoding runs
    /// before training, independent of the kernels' thread setting).
    static func forEachParallel(_ count: Int, threads: Int, _ body: (Int) -> Void) {
        let chunks = max(1, min(threads, count))
        if chunks == 1 { for i in 0..<count { body(i) }; return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            for i in count * c / chunks..<count * (c + 1) / chunks { body(i) }
        }
    }
}

/// The images of a folder scan, decoded from their files on every access at their own size (for
/// data that does not fit in memory, and for measuring decode speed). Thread-safe.
public struct ImageFolderFiles: ImageSource {
    public let scan: ImageFolderScan
    public let channels: Int
    public init(_ scan: ImageFolderScan, channels: Int) { self.scan = scan; self.channels = channels }

    public var count: Int { scan.files.count }
    public var source: String { scan.root }
    public var classes: Int? { scan.classNames?.count }
    public func label(_ i: Int) -> Int32? { scan.labels?[i] }
    public func path(_ i: Int) -> String { scan.files[i] }

    public func withImage<R>(_ i: Int, _ body: (ImageView) throws -> R) throws -> R {
        let img = try ImageCodec.decode(file: scan.files[i], channels: channels)
        return try img.pixels.withUnsafeBufferPointer {
            try body(ImageView(pixels: $0.baseAddress!, channels: channels, height: img.height, width: img.width))
        }
    }
}
