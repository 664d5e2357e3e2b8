// Line and bar charts: a Figure is a title, a legend and a grid of panels, each with its own axes.
// Layout happens once, in `render(into:)`, for any Surface (PNG raster or SVG).

import Foundation

/// One data series in a panel.
public struct Series: Sendable {
    public enum Style: Sendable {
        case line
        /// Bars from y = 0 at each point: `width` in x units, shifted by `offset` (side-by-side bars).
        case bars(width: Double, offset: Double)
        /// A square marker `size` pixels wide at each point (scatter plots).
        case points(size: Double)
    }
    public var name: String
    public var color: RGB
    public var points: [(x: Double, y: Double)]
    public var style: Style

    public init(name: String, color: RGB, points: [(x: Double, y: Double)], style: Style = .line) {
        self.name = name
        self.color = color
        self.points = points
        self.style = style
    }
}

/// One set of axes.
public struct Panel: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Forces y = 0 into the range (bar charts, counts).
    public var includeZero: Bool
    /// Fixed x range; nil = from the data.
    public var xRange: ClosedRange<Double>?

    public init(title: String, xLabel: String, yLabel: String, series: [Series], includeZero: Bool = false,
                xRange: ClosedRange<Double>? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.includeZero = includeZero
        self.xRange = xRange
    }
}

/// A figure: title, notes (one line each), a legend and panels in a grid.
public struct Figure: Sendable {
    public var title: String
    public var notes: [String]
    public var legend: [(name: String, color: RGB)]
    public var panels: [Panel]
    public var columns: Int
    public var panelWidth: Int
    public var panelHeight: Int

    public init(title: String, notes: [String] = [], legend: [(name: String, color: RGB)], panels: [Panel],
                columns: Int = 2, panelWidth: Int = 420, panelHeight: Int = 260) {
        self.title = title
        self.notes = notes
        self.legend = legend
        self.panels = panels
        self.columns = Swift.max(1, Swift.min(columns, panels.count))
        self.panelWidth = panelWidth
        self.panelHeight = panelHeight
    }

    static let margin = 12
    static let lineHeight = 12

    /// Legend entries laid out in rows that fit the figure width: (row, x) per entry.
    private func legendLayout(width: Int) -> [(row: Int, x: Int)] {
        var out: [(row: Int, x: Int)] = []
        var row = 0, x = Self.margin
        for e in legend {
            let w = 14 + BitmapFont.width(of: e.name) + 16
            if x + w > width - Self.margin && x > Self.margin { row += 1; x = Self.margin }
            out.append((row, x))
            x += w
        }
        return out
    }

    private var rows: Int { (panels.count + columns - 1) / columns }
    public var width: Int { columns * panelWidth + 2 * Self.margin }
    private var headerHeight: Int {
        let legendRows = legend.isEmpty ? 0 : (legendLayout(width: width).last?.row ?? 0) + 1
        return Self.margin + 14 + notes.count * Self.lineHeight + legendRows * Self.lineHeight + 6
    }
    public var height: Int { headerHeight + rows * panelHeight + Self.margin }

    public func render<S: Surface>(into s: inout S) {
        s.text(title, x: Double(Self.margin), y: Double(Self.margin), color: .black, size: 1, anchor: .start)
        var y = Self.margin + 14
        for n in notes {
            s.text(n, x: Double(Self.margin), y: Double(y), color: .darkGray, size: 1, anchor: .start)
            y += Self.lineHeight
        }
        for (e, pos) in zip(legend, legendLayout(width: width)) {
            let ly = Double(y + pos.row * Self.lineHeight)
            s.fillRect(x: Double(pos.x), y: ly + 1, width: 10, height: 5, color: e.color)
            s.text(e.name, x: Double(pos.x + 14), y: ly, color: .black, size: 1, anchor: .start)
        }
        for (i, p) in panels.enumerated() {
            let ox = Double(Self.margin + (i % columns) * panelWidth), oy = Double(headerHeight + (i / columns) * panelHeight)
            renderPanel(p, x: ox, y: oy, into: &s)
        }
    }

    private func renderPanel<S: Surface>(_ p: Panel, x ox: Double, y oy: Double, into s: inout S) {
        // Plot area inside the panel: room for y tick labels and title on the left, x ticks and title below.
        let left = 62.0, right = 14.0, top = 16.0, bottom = 34.0
        let px = ox + left, py = oy + top, pw = Double(panelWidth) - left - right, ph = Double(panelHeight) - top - bottom
        s.text(p.title, x: px + pw / 2, y: oy + 2, color: .black, size: 1, anchor: .middle)
        s.fillRect(x: px, y: py, width: pw, height: ph, color: RGB(250, 250, 250))

        let all = p.series.flatMap { ser -> [(x: Double, y: Double)] in
            switch ser.style {
            case .line, .points: return ser.points
            case let .bars(w, off): return ser.points.flatMap { [(x: $0.x + off - w / 2, y: $0.y), (x: $0.x + off + w / 2, y: $0.y)] }
            }
        }.filter { $0.x.isFinite && $0.y.isFinite }
        var xr = p.xRange ?? Axis.range(all.map(\.x))
        var yr = Axis.range(all.map(\.y))
        if p.includeZero { yr = Swift.min(yr.lowerBound, 0)...Swift.max(yr.upperBound, 0) }
        let xt = Axis.ticks(xr), yt = Axis.ticks(yr, pad: true)
        if p.xRange == nil { xr = xt.range }
        yr = yt.range
        if p.includeZero && yr.lowerBound < 0 && (all.map(\.y).min() ?? 0) >= 0 { yr = 0...yr.upperBound }
        let sx = { (v: Double) in px + (v - xr.lowerBound) / (xr.upperBound - xr.lowerBound) * pw }
        let sy = { (v: Double) in py + ph - (v - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * ph }

        let yTol = (yr.upperBound - yr.lowerBound) * 1e-6, xTol = (xr.upperBound - xr.lowerBound) * 1e-6
        for v in yt.values where v >= yr.lowerBound - yTol && v <= yr.upperBound + yTol {
            let y = sy(v)
            s.fillRect(x: px, y: y, width: pw, height: 1, color: RGB(228, 228, 228))
            s.text(Axis.label(v, step: yt.step), x: px - 4, y: y - 3, color: .darkGray, size: 1, anchor: .end)
        }
        for v in xt.values where v >= xr.lowerBound - xTol && v <= xr.upperBound + xTol {
            let x = sx(v)
            s.fillRect(x: x, y: py + ph, width: 1, height: 4, color: .darkGray)
            s.text(Axis.label(v, step: xt.step), x: x, y: py + ph + 6, color: .darkGray, size: 1, anchor: .middle)
        }
        for ser in p.series {
            switch ser.style {
            case .line:
                let pts = ser.points.filter { $0.x.isFinite && $0.y.isFinite }.map { (x: sx($0.x), y: sy($0.y)) }
                s.polyline(pts, color: ser.color, thickness: 1.5)
            case let .bars(w, off):
                for q in ser.points where q.x.isFinite && q.y.isFinite {
                    let x0 = sx(q.x + off - w / 2), x1 = sx(q.x + off + w / 2)
                    let y0 = sy(Swift.max(q.y, yr.lowerBound)), yBase = sy(Swift.max(0, yr.lowerBound))
                    s.fillRect(x: x0, y: Swift.min(y0, yBase), width: Swift.max(1, x1 - x0), height: abs(yBase - y0), color: ser.color)
                }
            case let .points(size):
                for q in ser.points where q.x.isFinite && q.y.isFinite {
                    s.fillRect(x: sx(q.x) - size / 2, y: sy(q.y) - size / 2, width: size, height: size, color: ser.color)
                }
            }
        }
        // Axes on top of the data.
        s.fillRect(x: px, y: py + ph, width: pw, height: 1, color: .darkGray)
        s.fillRect(x: px, y: py, width: 1, height: ph, color: .darkGray)
        s.text(p.xLabel, x: px + pw / 2, y: py + ph + 18, color: .black, size: 1, anchor: .middle)
        s.verticalText(p.yLabel, x: ox + 2, y: py + ph / 2, color: .black, size: 1)
    }

    /// The figure as PNG bytes.
    public func png() throws -> Data {
        var c = Canvas(width: width, height: height)
        render(into: &c)
        return try PNG.encode(c)
    }

    /// The figure as an SVG document.
    public func svg() -> String {
        var d = SVGDocument(width: width, height: height)
        render(into: &d)
        return d.xml
    }
}

/// Axis ranges and "nice" ticks (1, 2, 5 × 10^k).
public enum Axis {
    /// min…max of finite values, widened when empty or flat.
    public static func range(_ v: [Double]) -> ClosedRange<Double> {
        let f = v.filter(\.isFinite)
        guard let lo = f.min(), let hi = f.max() else { return 0...1 }
        if hi > lo { return lo...hi }
        let d = lo == 0 ? 1 : abs(lo) * 0.1
        return (lo - d)...(hi + d)
    }

    /// About `target` tick values covering `r`; `range` is `r` widened to whole ticks when `pad`.
    public static func ticks(_ r: ClosedRange<Double>, target: Int = 5, pad: Bool = false) -> (values: [Double], step: Double, range: ClosedRange<Double>) {
        let span = r.upperBound - r.lowerBound
        let raw = span / Double(Swift.max(target, 1))
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        let lo = floor(r.lowerBound / step + 1e-9) * step, hi = ceil(r.upperBound / step - 1e-9) * step
        // Multiples of the step (i·step, not repeated addition, so the last tick is not lost to rounding).
        let first = pad ? floor(r.lowerBound / step + 1e-9) : ceil(r.lowerBound / step - 1e-9)
        let last = pad ? ceil(r.upperBound / step - 1e-9) : floor(r.upperBound / step + 1e-9)
        let values = first <= last ? (Int(first)...Int(last)).map { Double($0) * step } : []
        return (values, step, pad ? lo...hi : r)
    }

    /// A compact tick label: plain decimals for ordinary magnitudes, "1.5e-4" for small or large ones.
    public static func label(_ v: Double, step: Double) -> String {
        if v == 0 { return "0" }
        // One style per axis: decided by the step, so 1e-3 and 8e-4 do not mix with 0.0010.
        if step < 1e-3 || abs(v) >= 1e5 || step >= 1e5 {
            let e = Int(floor(log10(abs(v))))
            let m = v / pow(10, Double(e))
            let ms = String(format: "%.2f", m).replacingOccurrences(of: #"\.?0+$"#, with: "", options: .regularExpression)
            return "\(ms)e\(e)"
        }
        let decimals = Swift.max(0, Int(ceil(-log10(step) - 1e-9)))
        return String(format: "%.\(decimals)f", v)
    }
}
