// JPEG and PNG files ⇄ uint8 channel-first images. JPEG goes through TurboJPEG and PNG through our own
// decoder over zlib (libpng only encodes): both report errors as values, so a bad file is a DataError,
// never a longjmp or an exit(). The format comes from the file's first bytes, not its extension. Every
// container then goes through one conversion to grey or RGB, PIL's `convert("L")` / `convert("RGB")`.

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

    /// The largest image file read: above what `maxPixels` of 16-bit RGBA PNG could need, uncompressed.
    public static let maxFileBytes = 1 << 31

    /// Reads and decodes one file into `channels` channels (1: gray, 3: RGB; see `decode`). The file's size is
    /// checked before it is read into memory.
    public static func decode(file path: String, channels: Int) throws -> UInt8Image {
        let fix = "check the file, remove it, or pass --skip-bad to skip it"
        let size = try SizeCheck.regularFileSize(path, what: "an image file", hint: fix)
        guard size <= maxFileBytes else {
            throw DataError("\(path): \(size) bytes, more than any image ropim decodes (\(maxFileBytes) bytes); \(fix)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw DataError("\(path): cannot read the image (\(exists ? "permission denied or I/O error" : "no such file")); check the file")
        }
        return try data.withUnsafeBytes { try decode($0, path: path, channels: channels) }
    }

    /// Decodes JPEG or PNG bytes (format sniffed) into `channels` channels exactly as PIL's
    /// `Image.open(f).convert("L")` (1) or `.convert("RGB")` (3) gives them: grey replicated to RGB, colour
    /// to grey by PIL's fixed-point luma, alpha dropped without compositing, palettes expanded, 16-bit PNGs
    /// as PIL reads them, Adobe CMYK JPEGs inverted and converted as PIL does; no gamma or colour
    /// management (gAMA, sRGB, iCCP are ignored, as by PIL). A JPEG that PIL reads despite libjpeg warnings
    /// (extraneous bytes before a marker, corrupt entropy data) decodes the same; a truncated one is an error.
    public static func decode(_ bytes: UnsafeRawBufferPointer, path: String, channels: Int) throws -> UInt8Image {
        precondition(channels == 1 || channels == 3, "decode to 1 or 3 channels, not \(channels)")
        let decoded: DecodedPixels
        switch ImageFormat.sniff(bytes) {
        case .jpeg: decoded = try decodeJPEG(bytes, path: path)
        case .png: decoded = try PNGDecoder.decode(bytes, path: path)
        case nil:
            throw DataError("\(path): not a JPEG or PNG file (\(ImageFormat.describe(bytes))); "
                + "convert it to JPEG/PNG, remove it, or pass --skip-bad to skip such files")
        }
        return convert(decoded, channels: channels)
    }

    /// The most pixels a decoded image may have: PIL's decompression-bomb error limit (2 × its
    /// MAX_IMAGE_PIXELS). A header claiming more is damaged or hostile; rejected before any allocation.
    public static let maxPixels = 2 * 89_478_485

    /// Throws unless `width`×`height` from a `format` header is a size worth allocating.
    static func checkDimensions(width: Int, height: Int, format: String, path: String) throws {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard width > 0, height > 0 else {
            throw DataError("\(path): \(format) header gives \(width)×\(height) pixels; the file is damaged: re-create it or pass --skip-bad")
        }
        guard !overflow, pixels <= maxPixels else {
            throw DataError("\(path): \(format) header gives \(width)×\(height) pixels, more than the \(maxPixels)-pixel limit "
                + "(PIL's decompression-bomb limit); the file is damaged or far larger than training needs: shrink it "
                + "(e.g. `convert in -resize 8192x8192 out`), remove it, or pass --skip-bad")
        }
    }

    // MARK: JPEG (TurboJPEG)

    /// Decodes in the file's own colour model (grey, RGB from YCbCr/RGB, or raw Adobe CMYK from CMYK/YCCK),
    /// with libjpeg's accurate integer DCT and fancy upsampling, as PIL.
    static func decodeJPEG(_ bytes: UnsafeRawBufferPointer, path: String) throws -> DecodedPixels {
        guard let tj = tjInitDecompress() else { throw DataError("\(path): TurboJPEG could not start (out of memory?)") }
        defer { tjDestroy(tj) }
        let buf = bytes.bindMemory(to: UInt8.self).baseAddress!
        var width: Int32 = 0, height: Int32 = 0, subsamp: Int32 = 0, colorspace: Int32 = 0
        let headerRC = tjDecompressHeader3(tj, buf, UInt(bytes.count), &width, &height, &subsamp, &colorspace)
        // A warning while reading the header (extraneous bytes) still gives a usable header, as in PIL.
        guard headerRC == 0 || (onlyWarned(tj) && width > 0 && height > 0) else {
            throw jpegError(tj, path: path, stage: "header")
        }
        try checkDimensions(width: Int(width), height: Int(height), format: "JPEG", path: path)
        let (w, h) = (Int(width), Int(height))
        // Huffman coding spends at least one bit on each 8×8 block, so the file's size bounds its pixels
        // (512 per byte; 1024 allowed). Arithmetic coding has no such bound: only the pixel limit applies.
        if let sof = frameMarker(bytes), sof <= 0xC7, w * h > 1024 * bytes.count + (1 << 20) {
            throw DataError("\(path): JPEG header gives \(w)×\(h) pixels, but a Huffman-coded JPEG of \(bytes.count) bytes "
                + "holds at most about \(512 * bytes.count) (one bit per 8×8 block); the header is damaged or the file truncated: "
                + "re-create or re-download it, remove it, or pass --skip-bad")
        }
        let (format, layout): (TJPF, DecodedPixels.Layout) =
            colorspace == TJCS_GRAY.rawValue ? (TJPF_GRAY, .gray)
            : colorspace == TJCS_CMYK.rawValue || colorspace == TJCS_YCCK.rawValue ? (TJPF_CMYK, .adobeCMYK)
            : (TJPF_RGB, .rgb)
        var out = [UInt8](repeating: 0, count: w * h * layout.samples)
        let rc = out.withUnsafeMutableBufferPointer { o in
            tjDecompress2(tj, buf, UInt(bytes.count), o.baseAddress, width, 0, height, Int32(format.rawValue), TJFLAG_ACCURATEDCT)
        }
        // PIL decodes through libjpeg's warnings, except running out of data: a file cut anywhere before its
        // end-of-image marker is "truncated" for PIL, and an error here.
        if rc != 0 && (!onlyWarned(tj) || lastMessage(tj).hasPrefix("Premature end of JPEG file")) {
            throw jpegError(tj, path: path, stage: "data")
        }
        return DecodedPixels(layout: layout, height: h, width: w, samples: out)
    }

    /// The frame marker (SOF0…SOF15: 0xC0–0xCF but DHT C4, JPG C8, DAC CC) of a JPEG's header, or nil when
    /// none comes before the first scan. Segment lengths are untrusted: the walk stops at the end of the bytes.
    static func frameMarker(_ b: UnsafeRawBufferPointer) -> UInt8? {
        var i = 2
        while i + 4 <= b.count {
            guard b[i] == 0xFF else { i += 1; continue }   // extraneous bytes, skipped as libjpeg does
            let m = b[i + 1]
            switch m {
            case 0xFF: i += 1                                    // fill byte
            case 0xC0...0xCF where ![0xC4, 0xC8, 0xCC].contains(m): return m
            case 0x01, 0xD0...0xD8: i += 2                       // markers without a length
            case 0xD9, 0xDA: return nil                          // end of image, start of scan
            default: i += 2 + (Int(b[i + 2]) << 8 | Int(b[i + 3]))
            }
        }
        return nil
    }

    /// libjpeg's warning messages (its JWRN_* table). TurboJPEG's error code says "warning" whenever a warning
    /// occurred during the call, even when a fatal error followed; the last message tells which came last.
    static let jpegWarningPrefixes = ["Corrupt JPEG data", "Premature end of JPEG file", "Warning:",
                                      "Inconsistent progression sequence", "Invalid SOS parameters for sequential JPEG",
                                      "Application transferred too many scanlines"]

    /// Whether the failed TurboJPEG call on `tj` only met warnings, which PIL ignores (it decodes on).
    static func onlyWarned(_ tj: tjhandle) -> Bool {
        let m = lastMessage(tj)
        return tjGetErrorCode(tj) == Int32(TJERR_WARNING.rawValue) && jpegWarningPrefixes.contains { m.hasPrefix($0) }
    }

    static func lastMessage(_ tj: tjhandle) -> String { tjGetErrorStr2(tj).map { String(cString: $0) } ?? "unknown error" }

    static func jpegError(_ tj: tjhandle, path: String, stage: String) -> DataError {
        let msg = lastMessage(tj)
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

    // MARK: PNG encoding (libpng simplified API; tests and tools)

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

    /// 16-bit linear gray PNG (tests of 16-bit reading).
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

    // MARK: Conversion (one for every container: PIL's convert)

    /// PIL's luma for `convert("L")` from RGB: ITU-R 601-2 in fixed point,
    /// L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16 (checked against PIL on all 2²⁴ colours).
    @inline(__always)
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let sum: UInt32 = 19595 * UInt32(r) + 38470 * UInt32(g) + 7471 * UInt32(b) + 0x8000
        return UInt8(sum >> 16)
    }

    /// One sample of PIL's `convert("RGB")` of a CMYK pixel: with n = 255 − K, n − C·n/255 rounded (its
    /// MULDIV255). Adobe JPEG samples are stored inverted, so PIL's C is 255 − `stored`, and n = `storedK`.
    @inline(__always)
    static func fromAdobeCMYK(_ stored: UInt8, storedK: UInt8) -> UInt8 {
        let n = UInt32(storedK)
        let t = (255 - UInt32(stored)) * n + 128
        return UInt8(n - (((t >> 8) + t) >> 8))
    }

    /// Decoded samples → a planar image of `channels` (1: PIL's "L", 3: PIL's "RGB"): grey replicated,
    /// colour through `luma`, alpha dropped.
    static func convert(_ d: DecodedPixels, channels: Int) -> UInt8Image {
        let n = d.width * d.height, step = d.layout.samples
        var out = [UInt8](repeating: 0, count: channels * n)
        d.samples.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                let o = dst.baseAddress!
                for k in 0..<n {
                    let p = src.baseAddress! + k * step
                    let r: UInt8, g: UInt8, b: UInt8
                    switch d.layout {
                    case .gray, .grayAlpha:
                        (r, g, b) = (p[0], p[0], p[0])
                    case .rgb, .rgba:
                        (r, g, b) = (p[0], p[1], p[2])
                    case .adobeCMYK:
                        (r, g, b) = (fromAdobeCMYK(p[0], storedK: p[3]), fromAdobeCMYK(p[1], storedK: p[3]),
                                     fromAdobeCMYK(p[2], storedK: p[3]))
                    }
                    if channels == 3 {
                        o[k] = r; o[n + k] = g; o[2 * n + k] = b
                    } else {
                        o[k] = luma(r, g, b)   // grey stays as stored: the weights sum to 2¹⁶, so luma(v, v, v) = v
                    }
                }
            }
        }
        return UInt8Image(channels: channels, height: d.height, width: d.width, pixels: out)
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
