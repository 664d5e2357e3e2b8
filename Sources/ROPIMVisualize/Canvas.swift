// A small raster drawing layer of our own: RGB pixels, filled rectangles, thick lines, images blitted
// with nearest-neighbour upscaling, and text in the built-in 5×7 bitmap font. Enough for image grids
// and line/bar charts without a graphics library (see README "Pictures" for what was considered).

/// An 8-bit RGB colour.
public struct RGB: Equatable, Hashable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    /// 0xRRGGBB.
    public init(hex: UInt32) { self.init(UInt8(hex >> 16 & 0xFF), UInt8(hex >> 8 & 0xFF), UInt8(hex & 0xFF)) }
    /// A grey level in [0, 1] (clamped; NaN is black).
    public init(gray v: Float) { let g = RGB.byte(v); self.init(g, g, g) }

    /// [0, 1] → 0…255, rounded, clamped; NaN → 0.
    @inline(__always) public static func byte(_ v: Float) -> UInt8 {
        guard v == v else { return 0 }
        return UInt8(Swift.min(Swift.max(v, 0), 1) * 255 + 0.5)
    }

    /// "#rrggbb" for SVG.
    public var hexString: String {
        let digits = Array("0123456789abcdef")
        return "#" + [r, g, b].map { String(digits[Int($0 >> 4)]) + String(digits[Int($0 & 15)]) }.joined()
    }

    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)
    public static let lightGray = RGB(220, 220, 220)
    public static let gray = RGB(128, 128, 128)
    public static let darkGray = RGB(64, 64, 64)

    /// Distinguishable line colours for overlaid runs (cycled).
    public static let palette: [RGB] = [0x1f77b4, 0xd62728, 0x2ca02c, 0xff7f0e, 0x9467bd, 0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22, 0x7f7f7f]
        .map { RGB(hex: $0) }

    /// Heat-map colour of t ∈ [0, 1]: black → dark red → orange → yellow → white (monotone in brightness).
    public static func heat(_ t: Float) -> RGB {
        let stops: [(Float, Float, Float)] = [(0, 0, 0), (0.55, 0.05, 0.05), (0.95, 0.45, 0.05), (1, 0.9, 0.2), (1, 1, 1)]
        let x = (t == t ? Swift.min(Swift.max(t, 0), 1) : 0) * Float(stops.count - 1)
        let i = Swift.min(Int(x), stops.count - 2), f = x - Float(i)
        let (a, b) = (stops[i], stops[i + 1])
        return RGB(byte(a.0 + (b.0 - a.0) * f), byte(a.1 + (b.1 - a.1) * f), byte(a.2 + (b.2 - a.2) * f))
    }
}

/// Where a text's anchor point lies horizontally.
public enum TextAnchor: Sendable { case start, middle, end }

/// An RGB raster, row-major, 3 bytes per pixel, origin top-left.
public struct Canvas: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, background: RGB = .white) {
        precondition(width > 0 && height > 0, "canvas must be at least 1×1, got \(width)×\(height)")
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) { pixels[3 * i] = background.r; pixels[3 * i + 1] = background.g; pixels[3 * i + 2] = background.b }
    }

    public subscript(x: Int, y: Int) -> RGB {
        get { let o = 3 * (y * width + x); return RGB(pixels[o], pixels[o + 1], pixels[o + 2]) }
        set { set(x, y, newValue) }
    }

    /// Sets one pixel; points outside the canvas are ignored (drawing clips).
    @inline(__always) public mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let o = 3 * (y * width + x)
        pixels[o] = c.r; pixels[o + 1] = c.g; pixels[o + 2] = c.b
    }

    /// Fills columns x..<x+w, rows y..<y+h (clipped).
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, color: RGB) {
        let x0 = Swift.max(x, 0), y0 = Swift.max(y, 0), x1 = Swift.min(x + w, width), y1 = Swift.min(y + h, height)
        guard x0 < x1, y0 < y1 else { return }
        for yy in y0..<y1 { for xx in x0..<x1 { set(xx, yy, color) } }
    }

    /// A 1-pixel rectangle outline.
    public mutating func strokeRect(x: Int, y: Int, width w: Int, height h: Int, color: RGB) {
        fillRect(x: x, y: y, width: w, height: 1, color: color)
        fillRect(x: x, y: y + h - 1, width: w, height: 1, color: color)
        fillRect(x: x, y: y, width: 1, height: h, color: color)
        fillRect(x: x + w - 1, y: y, width: 1, height: h, color: color)
    }

    /// A line from (x0, y0) to (x1, y1) (Bresenham), `thickness` pixels wide (a square pen).
    public mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, color: RGB, thickness: Int = 1) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        let lo = -(thickness - 1) / 2, hi = thickness / 2
        while true {
            if thickness <= 1 { set(x, y, color) } else {
                for oy in lo...hi { for ox in lo...hi { set(x + ox, y + oy, color) } }
            }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// Draws an image given as [C, H, W] values in [0, 1] (C = 1 grey or 3 RGB; clamped when drawn)
    /// with its top-left corner at (x, y), each pixel as a `scale`×`scale` block (nearest neighbour).
    public mutating func drawImage(_ v: UnsafeBufferPointer<Float>, channels c: Int, height h: Int, width w: Int,
                                   x: Int, y: Int, scale: Int = 1) {
        precondition(c == 1 || c == 3, "images are drawn from 1 (grey) or 3 (RGB) channels, got \(c)")
        precondition(v.count >= c * h * w, "image buffer holds \(v.count) values, need \(c * h * w)")
        for iy in 0..<h {
            for ix in 0..<w {
                let color = c == 1 ? RGB(gray: v[iy * w + ix])
                    : RGB(RGB.byte(v[iy * w + ix]), RGB.byte(v[(h + iy) * w + ix]), RGB.byte(v[(2 * h + iy) * w + ix]))
                fillRect(x: x + ix * scale, y: y + iy * scale, width: scale, height: scale, color: color)
            }
        }
    }

    /// Draws a [H, W] map through `colormap` (values already in [0, 1]).
    public mutating func drawMap(_ v: UnsafeBufferPointer<Float>, height h: Int, width w: Int, x: Int, y: Int, scale: Int = 1,
                                 colormap: (Float) -> RGB = RGB.heat) {
        for iy in 0..<h { for ix in 0..<w {
            fillRect(x: x + ix * scale, y: y + iy * scale, width: scale, height: scale, color: colormap(v[iy * w + ix]))
        } }
    }

    /// Text in the 5×7 font, each font pixel a `scale`×`scale` block; (x, y) is the anchor on the top edge.
    public mutating func text(_ s: String, x: Int, y: Int, color: RGB, scale: Int = 1, anchor: TextAnchor = .start) {
        let w = BitmapFont.width(of: s, scale: scale)
        var cx = anchor == .start ? x : (anchor == .middle ? x - w / 2 : x - w)
        for ch in s {
            let rows = BitmapFont.glyph(ch)
            for (ry, bits) in rows.enumerated() {
                for rx in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - rx)) != 0 {
                    fillRect(x: cx + rx * scale, y: y + ry * scale, width: scale, height: scale, color: color)
                }
            }
            cx += BitmapFont.advance * scale
        }
    }

    /// Text rotated 90° anticlockwise (reads bottom to top), centred on (x, y) — for y-axis titles.
    public mutating func verticalText(_ s: String, x: Int, y: Int, color: RGB, scale: Int = 1) {
        let w = BitmapFont.width(of: s, scale: scale)
        var cy = y + w / 2   // the string's start is at the bottom
        for ch in s {
            let rows = BitmapFont.glyph(ch)
            for (ry, bits) in rows.enumerated() {
                for rx in 0..<BitmapFont.glyphWidth where bits & (1 << (BitmapFont.glyphWidth - 1 - rx)) != 0 {
                    fillRect(x: x + ry * scale, y: cy - (rx + 1) * scale, width: scale, height: scale, color: color)
                }
            }
            cy -= BitmapFont.advance * scale
        }
    }
}
