// Training curves from run directories: each run's metrics.jsonl (one JSON object per line, see
// ROPIMTraining/RunLog.swift) → one panel per metric against step, runs overlaid with a legend.

import Foundation

/// The numeric columns of one run's metrics.jsonl, by key, as (x, value) pairs; x is the line's `x` key
/// (default "step").
public struct RunMetrics: Sendable {
    public var name: String
    public var series: [String: [(x: Double, y: Double)]]
    /// Lines that could not be parsed (a run still being written may end in a partial line).
    public var skippedLines: [Int]

    /// Parses JSONL text. With x "step", lines without "step" use their 1-based line number; with another
    /// x key (e.g. "epoch", "hours"), lines without a number under it are left out.
    public init(name: String, jsonl text: String, x xKey: String = "step") {
        self.name = name
        series = [:]
        skippedLines = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let obj = (try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))) as? [String: Any] else {
                skippedLines.append(i + 1)
                continue
            }
            func number(_ value: Any?) -> Double? {
                // Booleans may bridge to NSNumber; keep only real numbers.
                guard let value, !(type(of: value) == Bool.self), let n = value as? NSNumber else { return nil }
                return n.doubleValue
            }
            guard let x = number(obj[xKey]) ?? (xKey == "step" ? Double(i + 1) : nil) else { continue }
            for (key, value) in obj where key != xKey {
                guard let y = number(value) else { continue }
                series[key, default: []].append((x: x, y: y))
            }
        }
    }

    /// Reads `dir`/metrics.jsonl (or `dir` itself when it is a file), x from its `x` key.
    public init(runDirectory dir: String, x xKey: String = "step") throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
            throw VisualizeError("\(dir): no such run directory")
        }
        let path = isDir.boolValue ? (dir as NSString).appendingPathComponent("metrics.jsonl") : dir
        guard let data = FileManager.default.contents(atPath: path) else {
            throw VisualizeError("\(path): cannot read metrics (a run directory written by `ropim pretrain` holds metrics.jsonl)")
        }
        let trimmed = dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        let base = isDir.boolValue ? trimmed : (trimmed as NSString).deletingLastPathComponent
        self.init(name: (base as NSString).lastPathComponent, jsonl: String(decoding: data, as: UTF8.self), x: xKey)
    }
}

public enum TrainingCurves {
    /// Metrics drawn, in panel order, with their titles; accuracy-like keys (containing "top1", "acc") follow.
    public static let standard: [(key: String, title: String)] = [("loss", "loss"), ("lr", "learning rate"), ("grad_norm", "gradient norm (before clipping)")]

    /// The keys to draw for these runs: the standard ones present in any run, then accuracy keys.
    public static func keys(_ runs: [RunMetrics]) -> [String] {
        let present = Set(runs.flatMap { $0.series.keys })
        let extra = present.filter { k in k.contains("top1") || k.contains("top5") || k.contains("acc") }.sorted()
        return standard.map(\.key).filter(present.contains) + extra
    }

    /// Trailing moving average over `window` points (window ≤ 1: unchanged).
    public static func smooth(_ p: [(x: Double, y: Double)], window: Int) -> [(x: Double, y: Double)] {
        guard window > 1, !p.isEmpty else { return p }
        var out: [(x: Double, y: Double)] = []
        var sum = 0.0
        for i in 0..<p.count {
            sum += p[i].y
            if i >= window { sum -= p[i - window].y }
            out.append((x: p[i].x, y: sum / Double(Swift.min(i + 1, window))))
        }
        return out
    }

    /// One panel per metric (`metrics`, or `keys(runs)` when nil), runs overlaid; `smoothing` applies to loss
    /// and gradient norm; `xLabel` names what the runs were read with as x.
    public static func figure(_ runs: [RunMetrics], smoothing: Int = 1, title: String = "training curves",
                              metrics: [String]? = nil, xLabel: String = "step") -> Figure {
        let names = uniqueNames(runs.map(\.name))
        let colors = runs.indices.map { RGB.palette[$0 % RGB.palette.count] }
        let panels = (metrics ?? keys(runs)).map { key -> Panel in
            let t = standard.first { $0.key == key }?.title ?? key
            let w = (key == "loss" || key == "grad_norm") ? smoothing : 1
            let series = runs.indices.compactMap { i -> Series? in
                guard let p = runs[i].series[key], !p.isEmpty else { return nil }
                return Series(name: names[i], color: colors[i], points: smooth(p, window: w))
            }
            return Panel(title: t + (w > 1 ? " (moving average of \(w))" : ""), xLabel: xLabel, yLabel: key, series: series,
                         includeZero: key == "lr")
        }
        return Figure(title: title, legend: zip(names, colors).map { (name: $0, color: $1) }, panels: panels,
                      columns: panels.count > 1 ? 2 : 1)
    }

    /// Run names made unique by appending #2, #3 … to repeats.
    static func uniqueNames(_ names: [String]) -> [String] {
        var seen: [String: Int] = [:]
        return names.map { n in
            seen[n, default: 0] += 1
            return seen[n]! > 1 ? "\(n) #\(seen[n]!)" : n
        }
    }
}
