// JPEG and PNG files ⇄ uint8 channel-first images. JPEG goes through TurboJPEG and PNG through
// libpng's simplified API: both report errors as return codes, so a bad file is a DataError, never
// a longjmp or an exit(). The format comes from the file's first bytes, not its extension.

import CPNG
import CTurboJPEG
import Foundation

/// A uint8 image, channel-first (decoded files, augmentation working copies): `pixels[(c * height + y) * width + x]`.
public struct UInt8Image: Equatable, Sendable {
    public var channels: Int
    public var height: Int
    public var width: Int
    public var pixels: [UInt8]

    public init(channels: Int, height: Int, width: Int, pixels: [UInt8]) {
        precondition(pixels.count == channels * height * width, "\(pixels.count) pixels for \(channels)×\(height)×\(width)")
        self.channels = channels; self.height = height; self.width = width; self.pixels = pixels
    }
}

public enum ImageFormat: String, Sendable {
    case jpeg, png

    /// The format by magic bytes (JPEG FF D8 FF, PNG 89 'PNG' 0D 0A 1A 0A), or nil.
    public static func sniff(_ head: UnsafeRawBufferPointer) -> ImageFormat? {
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return .jpeg }
        let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        if head.count >= 8, (0..<8).allSatisfy({ head[$0] == png[$0] }) { return .png }
        return nil
    }

    /// A short description of what the first bytes look like, for error messages.
    static func describe(_ head: UnsafeRawBufferPointer) -> String {
        let b = Array(head.prefix(8))
        if b.isEmpty { return "the file is empty" }
        if b.starts(with: Array("GIF8".utf8)) { return "it is a GIF" }
        if b.starts(with: Array("BM".utf8)) { return "it looks like a BMP" }
        if b.count >= 4, b[0...3] == [0x52, 0x49, 0x46, 0x46] { return "it is a RIFF file (WebP?)" }
        return "it starts with bytes " + b.map { String(format: "%02x", $0) }.joined(separator: " ")
    }
}

public enum ImageCodec {
    /// File name extensions taken as images when scanning folders (case-insensitive).
    public static let extensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Reads and decodes one file into `channels` channels (1: gray, 3: RGB; see `decode`).
    public static func decode(file path: String, channels: Int) throws -> UInt8Image {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw DataError("\(path): cannot read the image (\(exists ? "permission denied or I/O error" : "no such file")); check the file")
        }
        return try data.withUnsafeBytes { try decode($0, path: path, channels: channels) }
    }

    /// Decodes JPEG or PNG bytes (format sniffed) into `channels` channels: gray files are replicated to
    /// RGB and colour files converted to gray (libjpeg's / libpng's luma) as asked; alpha is dropped
    /// without compositing, as PIL's `convert("RGB")`; palette and 1/2/4-bit PNGs are expanded.
    /// 16-bit PNGs and CMYK JPEGs are rejected with a message saying how to convert them. JPEG
    /// warnings (a truncated file, corrupt entropy data) are errors: libjpeg would fill the rest grey.
    public static func decode(_ bytes: UnsafeRawBufferPointer, path: String, channels: Int) throws -> UInt8Image {
        precondition(channels == 1 || channels == 3, "decode to 1 or 3 channels, not \(channels)")
        switch ImageFormat.sniff(bytes) {
        case .jpeg: return try decodeJPEG(bytes, path: path, channels: channels)
        case .png: return try decodePNG(bytes, path: path, channels: channels)
        case nil:
            throw DataError("\(path): not a JPEG or PNG file (\(ImageFormat.describe(bytes))); "
                + "convert it to JPEG/PNG, remove it, or pass --skip-bad to skip such files")
        }
    }

    // MARK: JPEG (TurboJPEG)

    static func decodeJPEG(_ bytes: UnsafeRawBufferPointer, path: String, channels: Int) throws -> UInt8Image {
        guard let tj = tjInitDecompress() else { throw DataError("\(path): TurboJPEG could not start (out of memory?)") }
        defer { tjDestroy(tj) }
        let buf = bytes.bindMemory(to: UInt8.self).baseAddress!
        var width: Int32 = 0, height: Int32 = 0, subsamp: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(tj, buf, UInt(bytes.count), &width, &height, &subsamp, &colorspace) == 0 else {
            throw jpegError(tj, path: path, stage: "header")
        }
        guard width > 0, height > 0, Int(width) * Int(height) <= 1 << 28 else {
            throw DataError("\(path): JPEG header gives \(width)×\(height) pixels; the file is damaged: re-create it or pass --skip-bad")
        }
        if colorspace == TJCS_CMYK.rawValue || colorspace == TJCS_YCCK.rawValue {
            throw DataError("\(path): CMYK JPEG, which is not supported; convert it to RGB "
                + "(e.g. `convert in.jpg -colorspace sRGB out.jpg`) or pass --skip-bad")
        }
        let (w, h) = (Int(width), Int(height))
        var interleaved = [UInt8](repeating: 0, count: w * h * channels)
        let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
        // STOPONWARNING: a truncated or corrupt stream stops at once instead of decoding grey filler.
        let rc = interleaved.withUnsafeMutableBufferPointer { out in
            tjDecompress2(tj, buf, UInt(bytes.count), out.baseAddress, width, 0, height, Int32(format.rawValue),
                          TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING)
        }
        guard rc == 0 else { throw jpegError(tj, path: path, stage: "data") }
        return UInt8Image(channels: channels, height: h, width: w, pixels: planar(interleaved, channels: channels, count: w * h))
    }

    static func jpegError(_ tj: tjhandle, path: String, stage: String) -> DataError {
        let msg = tjGetErrorStr2(tj).map { String(cString: $0) } ?? "unknown error"
        let hint = msg.contains("Premature end") || msg.contains("missing SOS") ? " (the file looks truncated)" : ""
        return DataError("\(path): corrupt JPEG \(stage): \(msg)\(hint); re-create or re-download the file, "
            + "remove it, or pass --skip-bad to skip it")
    }

    /// Encodes to baseline JPEG (4:2:0 for colour) at `quality` 1…100; tests and the data benchmark use it.
    public static func encodeJPEG(_ image: UInt8Image, quality: Int = 90) throws -> [UInt8] {
        precondition(image.channels == 1 || image.channels == 3, "JPEG wants 1 or 3 channels")
        guard let tj = tjInitCompress() else { throw DataError("TurboJPEG could not start (out of memory?)") }
        defer { tjDestroy(tj) }
        let inter = interleaved(image)
        var out: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let rc = inter.withUnsafeBufferPointer { src in
            tjCompress2(tj, src.baseAddress, Int32(image.width), 0, Int32(image.height),
                        Int32((image.channels == 1 ? TJPF_GRAY : TJPF_RGB).rawValue), &out, &size,
                        Int32((image.channels == 1 ? TJSAMP_GRAY : TJSAMP_420).rawValue), Int32(quality), TJFLAG_ACCURATEDCT)
        }
        defer { if let out { tjFree(out) } }
        guard rc == 0, let out else {
            throw DataError("JPEG encoding failed: \(tjGetErrorStr2(tj).map { String(cString: $0) } ?? "unknown error")")
        }
        return Array(UnsafeBufferPointer(start: out, count: Int(size)))
    }

    // MARK: PNG (libpng simplified API)

    static func decodePNG(_ bytes: UnsafeRawBufferPointer, path: String, channels: Int) throws -> UInt8Image {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) != 0 else {
            throw pngError(&image, path: path)
        }
        // From here on libpng holds memory until finish_read (which frees it) or png_image_free.
        if image.format & PNG_FORMAT_FLAG_LINEAR != 0 {
            png_image_free(&image)
            throw DataError("\(path): 16-bit PNG, which is not supported (8-bit gray, RGB, RGBA and palette are); "
                + "convert it to 8 bits (e.g. `convert in.png -depth 8 out.png`) or pass --skip-bad")
        }
        let (w, h) = (Int(image.width), Int(image.height))
        guard w > 0, h > 0, w * h <= 1 << 28 else {
            png_image_free(&image)
            throw DataError("\(path): PNG header gives \(w)×\(h) pixels; the file is damaged: re-create it or pass --skip-bad")
        }
        // Ask for alpha when the file has it and drop it below: libpng would otherwise composite.
        let hasAlpha = image.format & PNG_FORMAT_FLAG_ALPHA != 0
        image.format = (channels == 1 ? 0 : PNG_FORMAT_FLAG_COLOR) | (hasAlpha ? PNG_FORMAT_FLAG_ALPHA : 0)
        let stored = channels + (hasAlpha ? 1 : 0)
        var interleaved = [UInt8](repeating: 0, count: w * h * stored)
        let ok = interleaved.withUnsafeMutableBytes { out in
            png_image_finish_read(&image, nil, out.baseAddress, Int32(w * stored), nil)
        }
        guard ok != 0 else { throw pngError(&image, path: path) }
        return UInt8Image(channels: channels, height: h, width: w,
                            pixels: planar(interleaved, channels: channels, stride: stored, count: w * h))
    }

    static func pngError(_ image: inout png_image, path: String) -> DataError {
        let msg = withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        return DataError("\(path): corrupt PNG: \(msg.isEmpty ? "unknown error" : msg); re-create or re-download the file, "
            + "remove it, or pass --skip-bad to skip it")
    }

    /// Encodes to PNG: gray, RGB or RGBA from `image` (1, 3 or 4 channels), or with `palette` (RGB
    /// triples) an 8-bit palette PNG whose single channel holds the indices. For tests and tools.
    public static func encodePNG(_ image: UInt8Image, palette: [UInt8]? = nil) throws -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        if let palette {
            precondition(image.channels == 1 && palette.count % 3 == 0 && palette.count <= 768, "palette PNG wants indices and RGB triples")
            png.format = PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_COLORMAP
            png.colormap_entries = UInt32(palette.count / 3)
        } else {
            precondition([1, 3, 4].contains(image.channels), "PNG wants 1, 3 or 4 channels")
            png.format = image.channels == 1 ? 0 : image.channels == 3 ? PNG_FORMAT_FLAG_COLOR : PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA
        }
        let inter = interleaved(image)
        var size = 0
        // First call sizes the output, second writes it.
        var ok = inter.withUnsafeBufferPointer { src in
            (palette ?? []).withUnsafeBufferPointer { map in
                png_image_write_to_memory(&png, nil, &size, 0, src.baseAddress, 0, palette == nil ? nil : map.baseAddress)
            }
        }
        var out = [UInt8](repeating: 0, count: size)
        if ok != 0 {
            ok = inter.withUnsafeBufferPointer { src in
                (palette ?? []).withUnsafeBufferPointer { map in
                    out.withUnsafeMutableBytes { dst in
                        png_image_write_to_memory(&png, dst.baseAddress, &size, 0, src.baseAddress, 0,
                                                  palette == nil ? nil : map.baseAddress)
                    }
                }
            }
        }
        guard ok != 0 else { throw pngError(&png, path: "PNG encoding") }
        return Array(out.prefix(size))
    }

    /// 16-bit linear gray PNG (tests of the 16-bit rejection).
    public static func encodePNG16(gray: [UInt16], height: Int, width: Int) throws -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(width); png.height = UInt32(height)
        png.format = PNG_FORMAT_FLAG_LINEAR
        var size = 0
        guard gray.withUnsafeBufferPointer({ png_image_write_to_memory(&png, nil, &size, 0, $0.baseAddress, 0, nil) }) != 0 else {
            throw pngError(&png, path: "PNG encoding")
        }
        var out = [UInt8](repeating: 0, count: size)
        let ok = gray.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBytes { png_image_write_to_memory(&png, $0.baseAddress, &size, 0, src.baseAddress, 0, nil) }
        }
        guard ok != 0 else { throw pngError(&png, path: "PNG encoding") }
        return Array(out.prefix(size))
    }

    // MARK: Layout

    /// Interleaved (HWC, `stride` bytes per pixel) → planar (CHW) keeping the first `channels`.
    static func planar(_ src: [UInt8], channels: Int, stride: Int? = nil, count: Int) -> [UInt8] {
        let s = stride ?? channels
        if channels == 1 && s == 1 { return src }
        var out = [UInt8](repeating: 0, count: channels * count)
        src.withUnsafeBufferPointer { i in
            out.withUnsafeMutableBufferPointer { o in
                for c in 0..<channels {
                    let dst = o.baseAddress! + c * count
                    var p = i.baseAddress! + c
                    for k in 0..<count { dst[k] = p.pointee; p += s }
                }
            }
        }
        return out
    }

    /// Planar (CHW) → interleaved (HWC).
    static func interleaved(_ image: UInt8Image) -> [UInt8] {
        let n = image.width * image.height, ch = image.channels
        if ch == 1 { return image.pixels }
        var out = [UInt8](repeating: 0, count: ch * n)
        for c in 0..<ch { for k in 0..<n { out[k * ch + c] = image.pixels[c * n + k] } }
        return out
    }
}
