// PNG files through libpng's simplified API (png_image_*), which reports errors in the png_image
// struct instead of longjmp; files are written atomically (temporary file, then rename).

import CPNG
import Foundation
import ROPIMFiles

public struct PNGError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public var errorDescription: String? { description }
}

public enum PNG {
    // png.h: PNG_IMAGE_VERSION 1; PNG_FORMAT_RGB = PNG_FORMAT_FLAG_COLOR = 0x02 (8-bit, no alpha).
    private static let version: UInt32 = 1
    private static let formatRGB: UInt32 = 0x02

    private static func message(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// The PNG encoding of an 8-bit RGB raster.
    public static func encode(_ canvas: Canvas) throws -> Data {
        var image = png_image()
        image.version = version
        image.width = UInt32(canvas.width)
        image.height = UInt32(canvas.height)
        image.format = formatRGB
        let stride = Int32(canvas.width * 3)
        return try canvas.pixels.withUnsafeBytes { px -> Data in
            var size = 0
            // First call with no buffer: libpng reports the size it needs.
            guard png_image_write_to_memory(&image, nil, &size, 0, px.baseAddress, stride, nil) != 0, size > 0 else {
                throw PNGError(description: "PNG encoding failed: \(message(&image))")
            }
            var out = Data(count: size)
            let ok = out.withUnsafeMutableBytes { buf in
                png_image_write_to_memory(&image, buf.baseAddress, &size, 0, px.baseAddress, stride, nil)
            }
            guard ok != 0 else { throw PNGError(description: "PNG encoding failed: \(message(&image))") }
            return out.prefix(size)
        }
    }

    /// Writes `canvas` to `path` as PNG, atomically.
    public static func write(_ canvas: Canvas, to path: String) throws {
        let data = try encode(canvas)
        do { try AtomicFile.write(data, to: path) } catch {
            throw PNGError(description: "\(path): cannot write the PNG: \(error)")
        }
    }

    /// Decodes PNG bytes to an 8-bit RGB raster (grey, palette and alpha images are converted by libpng).
    public static func decode(_ data: Data, source: String = "PNG data") throws -> Canvas {
        var image = png_image()
        image.version = version
        let begun = data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw PNGError(description: "\(source): not a readable PNG: \(message(&image))") }
        image.format = formatRGB
        let (w, h) = (Int(image.width), Int(image.height))
        guard w > 0, h > 0 else { png_image_free(&image); throw PNGError(description: "\(source): empty PNG") }
        var canvas = Canvas(width: w, height: h)
        let ok = canvas.pixels.withUnsafeMutableBytes { buf in
            png_image_finish_read(&image, nil, buf.baseAddress, Int32(w * 3), nil)
        }
        guard ok != 0 else { throw PNGError(description: "\(source): PNG decoding failed: \(message(&image))") }
        return canvas
    }

    /// Reads a PNG file to an RGB raster.
    public static func read(_ path: String) throws -> Canvas {
        guard let data = FileManager.default.contents(atPath: path) else { throw PNGError(description: "\(path): cannot read file") }
        return try decode(data, source: path)
    }
}
