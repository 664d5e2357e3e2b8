// IDX files (the MNIST / Fashion-MNIST format), gzip'd or raw, read strictly: a bad download should
// stop a run with a message naming the file, not train on garbage. Writing exists for tests and tools.
//
// Layout: magic 0x0000_08_NN (uint8 data, NN dimensions), NN big-endian UInt32 sizes, then the bytes.

import CZlib
import Foundation
import ROPIMKernels

/// Which half of an IDX folder to read; maps to the standard MNIST file names.
public enum IDXSplit: String, Codable, Sendable, CaseIterable {
    case train, test

    /// File name stem of the images, without ".gz".
    public var imagesName: String { self == .train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte" }
    /// File name stem of the labels, without ".gz".
    public var labelsName: String { self == .train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte" }
}

public enum IDX {
    public static let imagesMagic: UInt32 = 0x0000_0803
    public static let labelsMagic: UInt32 = 0x0000_0801

    static let installHint = "install Fashion-MNIST with `apt-get install dataset-fashion-mnist` "
        + "(it lands in /usr/share/datasets/fashion-mnist) or pass --data PATH to a folder holding IDX files"
    static let redownloadHint = "re-download the file or reinstall the dataset"

    // MARK: Reading

    /// Reads a uint8 image file (magic 0x00000803: count, rows, cols), gzip'd or raw.
    public static func readImages(path: String) throws -> (count: Int, height: Int, width: Int, pixels: [UInt8]) {
        let (dims, bytes) = try readFile(path: path, magic: imagesMagic, kind: "images")
        return (dims[0], dims[1], dims[2], bytes)
    }

    /// Reads a uint8 label file (magic 0x00000801: count), gzip'd or raw.
    public static func readLabels(path: String) throws -> [Int32] {
        let (_, bytes) = try readFile(path: path, magic: labelsMagic, kind: "labels")
        return bytes.map { Int32($0) }
    }

    /// Loads `split` from a folder holding `train-images-idx3-ubyte[.gz]` and friends (raw preferred when
    /// both exist). Labels are required unless `requireLabels` is false, in which case a folder without a
    /// labels file gives an unlabelled dataset. Classes = largest label + 1.
    public static func loadFolder(_ dir: String, split: IDXSplit, requireLabels: Bool = true) throws -> ImageDataset {
        let lookedFor = "looked for \(split.imagesName)[.gz] and \(split.labelsName)[.gz]"
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
            throw DataError("\(dir): data folder does not exist (\(lookedFor) there); \(installHint)")
        }
        guard isDir.boolValue else {
            throw DataError("\(dir): is a file, not a folder; pass --data the folder holding \(split.imagesName)[.gz]")
        }
        guard let imagesPath = find(split.imagesName, in: dir) else {
            throw DataError("\(dir): no \(split.rawValue) images found (\(lookedFor)); \(installHint)")
        }
        let images = try readImages(path: imagesPath)
        var labels: [Int32]?
        var classes: Int?
        if let labelsPath = find(split.labelsName, in: dir) {
            let l = try readLabels(path: labelsPath)
            guard l.count == images.count else {
                throw DataError("\(labelsPath): \(l.count) labels but \(imagesPath) holds \(images.count) images; "
                    + "the two files come from different downloads or one is damaged: \(redownloadHint)")
            }
            // uint8 labels are always in 0..<256, so classes = max + 1 ≤ 256 holds by construction.
            labels = l
            classes = Int(l.max() ?? 0) + 1
        } else if requireLabels {
            throw DataError("\(dir): \(split.rawValue) images found but no labels (\(lookedFor)); "
                + "add \(split.labelsName).gz next to \(split.imagesName) or \(installHint)")
        }
        return ImageDataset(count: images.count, channels: 1, height: images.height, width: images.width,
                            pixels: images.pixels, labels: labels, classes: classes, source: imagesPath)
    }

    /// `dir/name` if it exists, else `dir/name.gz`, else nil.
    public static func find(_ name: String, in dir: String) -> String? {
        for candidate in [name, name + ".gz"] {
            let path = (dir as NSString).appendingPathComponent(candidate)
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }

    /// Reads header and payload of one uint8 IDX file and checks that the file holds exactly what the
    /// header describes. gzread passes non-gzip files through unchanged, so one path serves both.
    /// The header is untrusted: a raw file must be exactly as long as it says before its payload is
    /// allocated; a gzip'd one must be able to inflate to that size, and its payload grows as it is read.
    static func readFile(path: String, magic expected: UInt32, kind: String) throws -> (dims: [Int], bytes: [UInt8]) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw DataError("\(path): no such file; \(installHint)")
        }
        let fileSize = try SizeCheck.regularFileSize(path, what: "an IDX \(kind) file", hint: "pass --data the folder holding the IDX files")
        guard let file = gzopen(path, "rb") else {
            throw DataError("\(path): cannot open (\(String(cString: strerror(errno)))); check its permissions")
        }
        defer { gzclose(file) }
        gzbuffer(file, 1 << 18)
        var reader = GzReader(file: file, path: path)

        var head = [UInt8](repeating: 0, count: 4)
        let gotMagic = try reader.read(&head, 4)
        guard gotMagic == 4 else { throw reader.truncated(at: gotMagic, of: "the 4-byte header") }
        let gzipped = gzdirect(file) == 0
        let magic = bigEndian(head, 0)
        guard magic == expected else {
            let other = magic == imagesMagic ? " (that is an images file)" : magic == labelsMagic ? " (that is a labels file)" : ""
            throw DataError("\(path): magic number \(hex(magic)) is not \(hex(expected)), the IDX uint8 \(kind) magic\(other); "
                + "the file is not an IDX \(kind) file or is damaged: check the path, or \(redownloadHint)")
        }
        let ndims = Int(expected & 0xFF)
        var dimBytes = [UInt8](repeating: 0, count: 4 * ndims)
        let gotDims = try reader.read(&dimBytes, dimBytes.count)
        guard gotDims == dimBytes.count else { throw reader.truncated(at: 4 + gotDims, of: "the \(4 + 4 * ndims)-byte header") }
        let dims = (0..<ndims).map { Int(bigEndian(dimBytes, 4 * $0)) }
        let headerSize = 4 + 4 * ndims
        guard dims.allSatisfy({ $0 > 0 }) else {
            throw DataError("\(path): header gives sizes \(dims); every size must be positive: \(redownloadHint)")
        }
        // Each size is below 2³², so three of them can overflow an Int: check before using the product.
        guard let payload = SizeCheck.product(dims), let total = SizeCheck.sum([headerSize, payload]) else {
            throw DataError("\(path): header sizes \(dims) describe more bytes than any file can hold; the header is damaged: \(redownloadHint)")
        }
        let described = "(the size its header, sizes \(dims), describes)"
        if !gzipped {
            guard fileSize >= total else {
                throw DataError("\(path): file ends after \(fileSize) of \(total) bytes \(described); the file is truncated "
                    + "(interrupted download?) or its header is damaged: \(redownloadHint)")
            }
            guard fileSize == total else { throw trailing(fileSize - total, path: path, total: total, dims: dims) }
        } else if payload > SizeCheck.maxInflated(fileSize) {
            throw DataError("\(path): header sizes \(dims) describe \(total) bytes, but a gzip file of \(fileSize) bytes inflates to "
                + "at most \(SizeCheck.maxInflated(fileSize)); the header is damaged or the file truncated: \(redownloadHint)")
        }

        let bytes = try reader.readGrowing(payload, checked: !gzipped)
        guard bytes.count == payload else { throw reader.truncated(at: headerSize + bytes.count, of: "\(total) bytes \(described)") }

        var scratch = [UInt8](repeating: 0, count: 1 << 16)
        var extra = 0
        while true {
            let n = try reader.read(&scratch, scratch.count)
            if n == 0 { break }
            extra += n
        }
        guard extra == 0 else { throw trailing(extra, path: path, total: total, dims: dims) }
        return (dims, bytes)
    }

    static func trailing(_ extra: Int, path: String, total: Int, dims: [Int]) -> DataError {
        DataError("\(path): \(extra) unexpected byte\(extra == 1 ? "" : "s") after the \(total) bytes that the header (sizes \(dims)) "
            + "describes; the file is damaged or not a single IDX file: \(redownloadHint)")
    }

    static func bigEndian(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    static func hex(_ v: UInt32) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - s.count)) + s
    }

    /// Reads through zlib, turning its errors into DataErrors that name the file.
    struct GzReader {
        let file: gzFile
        let path: String
        /// Set when zlib reports that a gzip stream stopped mid-member.
        var streamCutOff = false

        /// Reads up to `count` bytes; fewer only at the end of the data.
        mutating func read(_ buffer: inout [UInt8], _ count: Int) throws -> Int {
            var done = 0
            try buffer.withUnsafeMutableBytes { raw in
                while done < count {
                    let chunk = UInt32(min(count - done, 1 << 30))
                    let n = gzread(file, raw.baseAddress! + done, chunk)
                    if n < 0 { throw zlibError() }
                    if n == 0 { break }
                    done += Int(n)
                }
            }
            var errnum: Int32 = 0
            _ = gzerror(file, &errnum)
            if errnum == Z_BUF_ERROR { streamCutOff = true }
            else if errnum != Z_OK { throw zlibError() }
            return done
        }

        /// Reads up to `count` bytes into a buffer that grows with what really arrives, so a header
        /// claiming more than the stream holds costs no more memory than the stream. `checked`: the
        /// count was already checked against the file size, so it is reserved at once.
        mutating func readGrowing(_ count: Int, checked: Bool) throws -> [UInt8] {
            var out = [UInt8]()
            out.reserveCapacity(checked ? count : min(count, 1 << 24))
            var chunk = [UInt8](repeating: 0, count: min(count, 1 << 20))
            while out.count < count {
                let n = try read(&chunk, min(chunk.count, count - out.count))
                if n == 0 { break }
                out.append(contentsOf: chunk[0..<n])
            }
            return out
        }

        func zlibError() -> DataError {
            var errnum: Int32 = 0
            var msg = gzerror(file, &errnum).map { String(cString: $0) } ?? "unknown error"
            if msg.hasPrefix(path + ": ") { msg.removeFirst(path.count + 2) }   // zlib prefixes the path
            let what = errnum == Z_ERRNO ? String(cString: strerror(errno)) : msg
            return DataError("\(path): cannot read (\(what)); the gzip data is damaged: \(IDX.redownloadHint)")
        }

        func truncated(at got: Int, of wanted: String) -> DataError {
            let cut = streamCutOff ? "; the gzip stream is cut off" : ""
            return DataError("\(path): file ends after \(got) of \(wanted)\(cut) (truncated download?): \(IDX.redownloadHint)")
        }
    }

    // MARK: Writing (tests and tools)

    /// IDX bytes for uint8 images [count, height, width].
    public static func encodeImages(_ pixels: [UInt8], count: Int, height: Int, width: Int) -> [UInt8] {
        precondition(pixels.count == count * height * width, "\(pixels.count) pixels for \(count)×\(height)×\(width)")
        return header(magic: imagesMagic, dims: [count, height, width]) + pixels
    }

    /// IDX bytes for uint8 labels.
    public static func encodeLabels(_ labels: [UInt8]) -> [UInt8] {
        header(magic: labelsMagic, dims: [labels.count]) + labels
    }

    static func header(magic: UInt32, dims: [Int]) -> [UInt8] {
        ([magic] + dims.map { UInt32($0) }).flatMap { v in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> $0) } }
    }

    /// Writes bytes to `path`, through gzip when asked (the path is used as given).
    public static func writeFile(_ bytes: [UInt8], path: String, gzip: Bool) throws {
        if !gzip {
            do { try Data(bytes).write(to: URL(fileURLWithPath: path)) } catch {
                throw DataError("\(path): cannot write (\(error.localizedDescription)); check the folder exists and is writable")
            }
            return
        }
        guard let file = gzopen(path, "wb") else {
            throw DataError("\(path): cannot create (\(String(cString: strerror(errno)))); check the folder exists and is writable")
        }
        var written = 0
        bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = gzwrite(file, raw.baseAddress! + written, UInt32(min(raw.count - written, 1 << 30)))
                if n <= 0 { break }
                written += Int(n)
            }
        }
        let closed = gzclose(file)
        guard written == bytes.count, closed == Z_OK else {
            throw DataError("\(path): gzip write failed after \(written) of \(bytes.count) bytes; check free disk space")
        }
    }

    /// Writes a gray dataset as `split`'s IDX files in `dir` (created if needed), with ".gz" names when gzip'd.
    /// Returns the paths written; labels only when the dataset has them.
    @discardableResult
    public static func write(_ data: ImageDataset, split: IDXSplit, to dir: String, gzip: Bool) throws -> (images: String, labels: String?) {
        guard data.channels == 1 else {
            throw DataError("\(data.source): IDX stores gray images; this dataset has \(data.channels) channels")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let ext = gzip ? ".gz" : ""
        let imagesPath = (dir as NSString).appendingPathComponent(split.imagesName + ext)
        try writeFile(encodeImages(data.pixels, count: data.count, height: data.height, width: data.width),
                      path: imagesPath, gzip: gzip)
        guard let labels = data.labels else { return (imagesPath, nil) }
        guard labels.allSatisfy({ (0..<256).contains($0) }) else {
            throw DataError("\(data.source): IDX labels are uint8; this dataset has labels outside 0..<256")
        }
        let labelsPath = (dir as NSString).appendingPathComponent(split.labelsName + ext)
        try writeFile(encodeLabels(labels.map { UInt8($0) }), path: labelsPath, gzip: gzip)
        return (imagesPath, labelsPath)
    }
}
