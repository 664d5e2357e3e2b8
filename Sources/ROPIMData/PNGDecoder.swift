// PNG decoding to the stored sample values, as PIL reads them: libpng's simplified API applies the file's
// gamma (gAMA, sRGB, iCCP) and converts colour to grey in linear light, which PIL never does. Chunks,
// CRCs, filters and Adam7 interlacing are handled here and zlib inflates, so every problem is a DataError.

import CZlib
import Foundation

/// Samples of a decoded file in its own colour model, 8 bits each, interleaved (`layout.samples` per pixel),
/// before the one conversion to grey or RGB that every container goes through (`PixelConversion`).
struct DecodedPixels {
    enum Layout {
        case gray, grayAlpha, rgb, rgba
        /// CMYK as libjpeg returns an Adobe JPEG's samples (stored inverted; PIL's "CMYK;I").
        case adobeCMYK

        var samples: Int {
            switch self {
            case .gray: return 1
            case .grayAlpha: return 2
            case .rgb: return 3
            case .rgba, .adobeCMYK: return 4
            }
        }
    }

    var layout: Layout
    var height: Int
    var width: Int
    var samples: [UInt8]
}

enum PNGDecoder {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    struct Header {
        var width: Int, height: Int, bitDepth: Int, colorType: Int, interlaced: Bool

        /// Samples per pixel in the file (a palette index is one).
        var fileSamples: Int { [0: 1, 2: 3, 3: 1, 4: 2, 6: 4][colorType]! }
        var bitsPerPixel: Int { fileSamples * bitDepth }
    }

    /// Adam7 passes: x start, y start, x step, y step; a plain image is one pass (0, 0, 1, 1).
    static let adam7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]

    /// Decodes PNG bytes to PIL's modes before `convert`: grey (1/2/4-bit scaled to 0…255; 16-bit clipped at
    /// 255, as PIL's "I;16" → "L"), grey+alpha, RGB, RGBA (16-bit: the high byte, as PIL's "RGB;16B"), palette
    /// expanded to RGB (indices past the palette are black, as in PIL). Ancillary chunks (gAMA, iCCP, sRGB,
    /// tRNS, …) are ignored, as PIL's convert ignores them.
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws -> DecodedPixels {
        func fail(_ what: String) -> DataError {
            DataError("\(path): corrupt PNG: \(what); re-create or re-download the file, remove it, or pass --skip-bad to skip it")
        }
        let b = bytes.bindMemory(to: UInt8.self)
        func u32(_ at: Int) -> Int { Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3]) }
        guard b.count >= 8, b.prefix(8).elementsEqual(signature) else { throw fail("no PNG signature") }

        var header: Header?
        var palette = [UInt8]()
        var idat = [Range<Int>]()
        var at = 8
        chunks: while true {
            guard at + 8 <= b.count else {
                if header != nil, !idat.isEmpty, at == b.count { break }   // IEND missing after the image data: as PIL
                throw fail("the file ends inside the chunk header at byte \(at) (truncated?)")
            }
            let length = u32(at)
            let type = String(decoding: b[at + 4..<at + 8], as: UTF8.self)
            guard length <= 0x7FFF_FFFF, length <= b.count - at - 12 else {
                throw fail("chunk \(type) at byte \(at) claims \(length) bytes, but the file ends \(b.count - at - 8) bytes later (truncated?)")
            }
            let data = at + 8..<at + 8 + length
            // Critical chunks (upper-case first letter) must be intact; ancillary ones are skipped unread.
            let critical = b[at + 4] & 0x20 == 0
            if critical {
                let crc = UInt32(truncatingIfNeeded: crc32(0, b.baseAddress! + at + 4, UInt32(length + 4)))
                guard crc == UInt32(u32(data.upperBound)) else { throw fail("chunk \(type) at byte \(at) fails its CRC check") }
            }
            if header == nil && type != "IHDR" { throw fail("the first chunk is \(type), not IHDR") }
            switch type {
            case "IHDR":
                guard header == nil else { throw fail("a second IHDR chunk") }
                guard length == 13 else { throw fail("IHDR has \(length) bytes, not 13") }
                let h = Header(width: u32(data.lowerBound), height: u32(data.lowerBound + 4), bitDepth: Int(b[data.lowerBound + 8]),
                               colorType: Int(b[data.lowerBound + 9]), interlaced: b[data.lowerBound + 12] == 1)
                let allowed: [Int: [Int]] = [0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]]
                guard allowed[h.colorType]?.contains(h.bitDepth) == true else {
                    throw fail("colour type \(h.colorType) with bit depth \(h.bitDepth) is not a PNG format")
                }
                guard b[data.lowerBound + 10] == 0, b[data.lowerBound + 11] == 0, b[data.lowerBound + 12] <= 1 else {
                    throw fail("unknown compression, filter or interlace method in IHDR")
                }
                try ImageCodec.checkDimensions(width: h.width, height: h.height, format: "PNG", path: path)
                header = h
            case "PLTE":
                guard length % 3 == 0, length <= 768 else { throw fail("PLTE has \(length) bytes (a multiple of 3, at most 768)") }
                palette = Array(b[data])
            case "IDAT":
                idat.append(data)
            case "IEND":
                break chunks
            default:
                guard !critical else { throw fail("unknown critical chunk \(type)") }
            }
            at = data.upperBound + 4
        }
        guard let h = header else { throw fail("no IHDR chunk") }
        guard !idat.isEmpty else { throw fail("no image data (IDAT)") }
        guard h.colorType != 3 || !palette.isEmpty else { throw fail("a palette image without a PLTE chunk") }

        // Sizes of the filtered rows of each pass; width and height are within the pixel limit, so none overflows.
        let passes = h.interlaced ? adam7 : [(0, 0, 1, 1)]
        let shapes = passes.map { p -> (w: Int, h: Int) in
            (h.width > p.0 ? (h.width - p.0 + p.2 - 1) / p.2 : 0, h.height > p.1 ? (h.height - p.1 + p.3 - 1) / p.3 : 0)
        }
        let rowBytes = shapes.map { ($0.w * h.bitsPerPixel + 7) / 8 }
        let rawSize = zip(shapes, rowBytes).reduce(0) { $0 + ($1.0.w > 0 ? $1.0.h * (1 + $1.1) : 0) }
        let compressed = idat.reduce(0) { $0 + $1.count }
        guard rawSize <= SizeCheck.maxInflated(compressed) else {
            throw fail("\(h.width)×\(h.height) pixels need \(rawSize) bytes of image data, more than the \(compressed) compressed "
                + "bytes of its IDAT chunks can inflate to (truncated?)")
        }
        let raw = try inflate(b, ranges: idat, size: rawSize, fail: fail)

        let layout: DecodedPixels.Layout = [0: .gray, 2: .rgb, 3: .rgb, 4: .grayAlpha, 6: .rgba][h.colorType]!
        var out = [UInt8](repeating: 0, count: h.width * h.height * layout.samples)
        var offset = 0
        for (k, pass) in passes.enumerated() where shapes[k].w > 0 && shapes[k].h > 0 {
            let (pw, ph, rb) = (shapes[k].w, shapes[k].h, rowBytes[k])
            var rows = Array(raw[offset..<offset + ph * (1 + rb)])
            offset += ph * (1 + rb)
            try unfilter(&rows, rows: ph, rowBytes: rb, bytesPerPixel: max(1, h.bitsPerPixel / 8), fail: fail)
            rows.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for y in 0..<ph {
                        let row = src.baseAddress! + y * (1 + rb) + 1
                        let outY = pass.1 + y * pass.3
                        for x in 0..<pw {
                            let o = dst.baseAddress! + ((outY * h.width) + pass.0 + x * pass.2) * layout.samples
                            unpack(row, x: x, header: h, palette: palette, into: o)
                        }
                    }
                }
            }
        }
        return DecodedPixels(layout: layout, height: h.height, width: h.width, samples: out)
    }

    /// Pixel `x` of an unfiltered row, written as `layout.samples` 8-bit samples at `o`.
    @inline(__always)
    static func unpack(_ row: UnsafePointer<UInt8>, x: Int, header h: Header, palette: [UInt8], into o: UnsafeMutablePointer<UInt8>) {
        if h.bitDepth < 8 {
            let bit = x * h.bitDepth
            let mask = (1 << h.bitDepth) - 1
            let v = Int(row[bit >> 3]) >> (8 - h.bitDepth - (bit & 7)) & mask
            if h.colorType == 3 { lookup(v, palette, o) } else { o[0] = UInt8(v * (255 / mask)) }
        } else if h.bitDepth == 8 {
            if h.colorType == 3 { lookup(Int(row[x]), palette, o); return }
            let n = h.fileSamples
            for s in 0..<n { o[s] = row[x * n + s] }
        } else {
            let n = h.fileSamples
            let p = row + 2 * x * n
            if h.colorType == 0 {
                o[0] = p[0] == 0 ? p[1] : 255   // PIL: "I;16" → "L" clips at 255
            } else {
                for s in 0..<n { o[s] = p[2 * s] }   // PIL: the high byte
            }
        }
    }

    /// Palette entry `i` as RGB; past the palette's end, black (PIL pads the palette with zeros).
    @inline(__always)
    static func lookup(_ i: Int, _ palette: [UInt8], _ o: UnsafeMutablePointer<UInt8>) {
        if 3 * i + 2 < palette.count {
            o[0] = palette[3 * i]; o[1] = palette[3 * i + 1]; o[2] = palette[3 * i + 2]
        } else {
            o[0] = 0; o[1] = 0; o[2] = 0
        }
    }

    /// Inflates the concatenated IDAT data to exactly `size` bytes; data beyond that is ignored (as libpng
    /// and PIL do), less is an error.
    static func inflate(_ b: UnsafeBufferPointer<UInt8>, ranges: [Range<Int>], size: Int,
                        fail: (String) -> DataError) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw fail("zlib could not start (out of memory?)")
        }
        defer { inflateEnd(&stream) }
        var produced = 0
        var ended = false
        try out.withUnsafeMutableBufferPointer { dst in
            for r in ranges where !ended && produced < size {
                stream.next_in = UnsafeMutablePointer(mutating: b.baseAddress! + r.lowerBound)
                stream.avail_in = UInt32(r.count)
                while stream.avail_in > 0 && produced < size {
                    let room = min(size - produced, 1 << 30)
                    stream.next_out = dst.baseAddress! + produced
                    stream.avail_out = UInt32(room)
                    let rc = CZlib.inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    if rc == Z_STREAM_END { ended = true; break }
                    guard rc == Z_OK || rc == Z_BUF_ERROR else {
                        let msg = stream.msg.map { String(cString: $0) } ?? "error \(rc)"
                        throw fail("the compressed image data is damaged (zlib: \(msg))")
                    }
                    if rc == Z_BUF_ERROR { break }
                }
            }
        }
        guard produced == size else {
            throw fail("the image data inflates to \(produced) of the \(size) bytes the header's size needs (truncated?)")
        }
        return out
    }

    /// Reverses the PNG row filters in place: `rows` rows of a filter-type byte then `rowBytes` bytes.
    static func unfilter(_ data: inout [UInt8], rows: Int, rowBytes: Int, bytesPerPixel bpp: Int,
                         fail: (String) -> DataError) throws {
        let stride = rowBytes + 1
        try data.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            for y in 0..<rows {
                let row = base + y * stride + 1
                let prior: UnsafeMutablePointer<UInt8>? = y > 0 ? base + (y - 1) * stride + 1 : nil
                let kind = row[-1]
                switch kind {
                case 0:
                    break
                case 1:
                    if rowBytes > bpp { for i in bpp..<rowBytes { row[i] &+= row[i - bpp] } }
                case 2:
                    if let prior { for i in 0..<rowBytes { row[i] &+= prior[i] } }
                case 3:
                    for i in 0..<rowBytes {
                        let left = i >= bpp ? Int(row[i - bpp]) : 0
                        let up = prior.map { Int($0[i]) } ?? 0
                        row[i] &+= UInt8((left + up) >> 1)
                    }
                case 4:
                    for i in 0..<rowBytes {
                        let a = i >= bpp ? Int(row[i - bpp]) : 0
                        let bb = prior.map { Int($0[i]) } ?? 0
                        let c = i >= bpp ? prior.map { Int($0[i - bpp]) } ?? 0 : 0
                        let p = a + bb - c
                        let (pa, pb, pc) = (abs(p - a), abs(p - bb), abs(p - c))
                        row[i] &+= UInt8(pa <= pb && pa <= pc ? a : pb <= pc ? bb : c)
                    }
                default:
                    throw fail("row \(y) has filter type \(kind) (0–4 are defined)")
                }
            }
        }
    }
}
