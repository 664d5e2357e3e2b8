// One drawing interface, two back ends: a chart lays itself out once and draws into either a raster
// (Canvas → PNG) or an SVG document (hand-written XML), so the two files always show the same thing.

import Foundation

/// What charts draw with. Coordinates are pixels, origin top-left.
public protocol Surface {
    mutating func fillRect(x: Double, y: Double, width: Double, height: Double, color: RGB)
    mutating func polyline(_ points: [(x: Double, y: Double)], color: RGB, thickness: Double)
    /// `y` is the top of the text; `size` is the font scale (1 = 7 px tall).
    mutating func text(_ s: String, x: Double, y: Double, color: RGB, size: Int, anchor: TextAnchor)
    /// Text reading bottom to top, centred on (x, y); x is the left edge of the (rotated) glyphs.
    mutating func verticalText(_ s: String, x: Double, y: Double, color: RGB, size: Int)
}

extension Canvas: Surface {
    public mutating func fillRect(x: Double, y: Double, width: Double, height: Double, color: RGB) {
        let x0 = Int(x.rounded()), y0 = Int(y.rounded())
        fillRect(x: x0, y: y0, width: Int((x + width).rounded()) - x0, height: Int((y + height).rounded()) - y0, color: color)
    }

    public mutating func polyline(_ points: [(x: Double, y: Double)], color: RGB, thickness: Double) {
        let t = Swift.max(1, Int(thickness.rounded()))
        guard let first = points.first else { return }
        if points.count == 1 { line(Int(first.x.rounded()), Int(first.y.rounded()), Int(first.x.rounded()), Int(first.y.rounded()), color: color, thickness: t + 1) }
        for (a, b) in zip(points, points.dropFirst()) {
            guard a.x.isFinite, a.y.isFinite, b.x.isFinite, b.y.isFinite else { continue }
            line(Int(a.x.rounded()), Int(a.y.rounded()), Int(b.x.rounded()), Int(b.y.rounded()), color: color, thickness: t)
        }
    }

    public mutating func text(_ s: String, x: Double, y: Double, color: RGB, size: Int, anchor: TextAnchor) {
        text(s, x: Int(x.rounded()), y: Int(y.rounded()), color: color, scale: size, anchor: anchor)
    }

    public mutating func verticalText(_ s: String, x: Double, y: Double, color: RGB, size: Int) {
        verticalText(s, x: Int(x.rounded()), y: Int(y.rounded()), color: color, scale: size)
    }
}

/// An SVG document built element by element.
public struct SVGDocument: Surface {
    public let width: Int
    public let height: Int
    private var body: [String] = []

    public init(width: Int, height: Int, background: RGB = .white) {
        self.width = width
        self.height = height
        body.append("<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"\(background.hexString)\"/>")
    }

    /// Escapes text for XML character data and attribute values.
    public static func escape(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                // XML 1.0 forbids most control characters even escaped; drop them.
                if let a = ch.asciiValue, a < 0x20, a != 0x09, a != 0x0A, a != 0x0D { continue }
                out.append(ch)
            }
        }
        return out
    }

    private static func num(_ v: Double) -> String {
        guard v.isFinite else { return "0" }
        let r = (v * 100).rounded() / 100
        return r == r.rounded() ? String(Int(r)) : String(format: "%.2f", r)
    }

    public mutating func fillRect(x: Double, y: Double, width: Double, height: Double, color: RGB) {
        body.append("<rect x=\"\(Self.num(x))\" y=\"\(Self.num(y))\" width=\"\(Self.num(width))\" height=\"\(Self.num(height))\" fill=\"\(color.hexString)\"/>")
    }

    public mutating func polyline(_ points: [(x: Double, y: Double)], color: RGB, thickness: Double) {
        let pts = points.filter { $0.x.isFinite && $0.y.isFinite }.map { "\(Self.num($0.x)),\(Self.num($0.y))" }.joined(separator: " ")
        guard !pts.isEmpty else { return }
        body.append("<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(color.hexString)\" stroke-width=\"\(Self.num(thickness))\" stroke-linejoin=\"round\"/>")
    }

    /// The raster font is 7 px tall per scale unit and advances 6 px; a monospace font at 10 px per
    /// unit matches that width closely, so layouts computed for the raster fit here too.
    public mutating func text(_ s: String, x: Double, y: Double, color: RGB, size: Int, anchor: TextAnchor) {
        let a = anchor == .start ? "start" : (anchor == .middle ? "middle" : "end")
        body.append("<text x=\"\(Self.num(x))\" y=\"\(Self.num(y + 7 * Double(size)))\" font-family=\"monospace\" font-size=\"\(10 * size)\" fill=\"\(color.hexString)\" text-anchor=\"\(a)\">\(Self.escape(s))</text>")
    }

    public mutating func verticalText(_ s: String, x: Double, y: Double, color: RGB, size: Int) {
        let bx = x + 7 * Double(size)
        body.append("<text x=\"\(Self.num(bx))\" y=\"\(Self.num(y))\" transform=\"rotate(-90 \(Self.num(bx)) \(Self.num(y)))\" font-family=\"monospace\" font-size=\"\(10 * size)\" fill=\"\(color.hexString)\" text-anchor=\"middle\">\(Self.escape(s))</text>")
    }

    /// The whole document as a string.
    public var xml: String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">\n"
            + body.joined(separator: "\n") + "\n</svg>\n"
    }
}
