// `ropim plot`: training curves of one or more runs (metrics.jsonl) as SVG and PNG.

import ArgumentParser
import Foundation
import ROPIMTraining
import ROPIMVisualize
import ROPIMFiles

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plot loss, learning rate, gradient norm (and k-NN/probe accuracy when logged) against step.",
        discussion: """
        Reads each run directory's metrics.jsonl and overlays the runs, one panel per metric, with the run \
        directory names as the legend. Accuracy-like keys (containing top1, top5 or acc) get panels of their \
        own when present.

        --output PATH writes PATH as SVG or PNG by its extension; without .svg/.png both PATH.svg and PATH.png are written.

        --metric KEY (repeatable) draws only those keys; --x KEY reads each line's KEY as the x value (default \
        step; lines without it are left out), e.g. epoch, or hours in a file a script derived from the runs.

        Examples:
          ropim plot runs/fmnist-rop-* --output curves
          ropim plot runs/a runs/b --smooth 20 --output compare.svg
          ropim plot runs/a runs/b --metric knn_top1 --x epoch --output knn
        """)

    @Argument(help: "Run directories (or metrics.jsonl files).") var runs: [String]
    @Option(help: "Output path (.svg, .png, or a stem for both).") var output = "curves"
    @Option(help: "Moving-average window for loss and gradient norm (1 = raw).") var smooth = 1
    @Option(help: "Figure title.") var title = "training curves"
    @Option(help: "Draw only this metrics.jsonl key (repeat for more panels; default: loss, lr, grad_norm and accuracy keys present).")
    var metric: [String] = []
    @Option(help: "The key whose value is the x axis (default step; e.g. epoch).") var x = "step"

    func validate() throws {
        if runs.isEmpty { throw ValidationError("give at least one run directory") }
        if smooth < 1 { throw ValidationError("--smooth must be at least 1, got \(smooth)") }
        if x.isEmpty || metric.contains(where: \.isEmpty) { throw ValidationError("--x and --metric need a key of metrics.jsonl, got an empty one") }
    }

    func run() throws {
        let metrics = try runs.map { try RunMetrics(runDirectory: $0, x: x) }
        for m in metrics where !m.skippedLines.isEmpty {
            print("warning: \(m.name): skipped unparsable metrics line(s) \(m.skippedLines.prefix(5).map(String.init).joined(separator: ", "))\(m.skippedLines.count > 5 ? ", …" : "")")
        }
        guard metrics.contains(where: { !$0.series.isEmpty }) else {
            throw ValidationError("no metrics in \(runs.joined(separator: ", ")): is the run still starting?")
        }
        let present = Set(metrics.flatMap { $0.series.keys })
        if let missing = metric.first(where: { !present.contains($0) }) {
            throw ValidationError("no run has '\(missing)' in lines with '\(x)': the keys there are \(present.sorted().joined(separator: ", ")); pick --metric from them (or another --x)")
        }
        let figure = TrainingCurves.figure(metrics, smoothing: smooth, title: title, metrics: metric.isEmpty ? nil : metric, xLabel: x)
        let ext = (output as NSString).pathExtension.lowercased()
        var written: [String] = []
        if ext != "png" {
            let p = ext == "svg" ? output : output + ".svg"
            try AtomicFile.write(figure.svg(), to: p)
            written.append(p)
        }
        if ext != "svg" {
            let p = ext == "png" ? output : output + ".png"
            try AtomicFile.write(try figure.png(), to: p)
            written.append(p)
        }
        let drawn = metric.isEmpty ? TrainingCurves.keys(metrics) : metric
        print("panels: \(drawn.joined(separator: ", ")) against \(x); runs: \(metrics.map { "\($0.name) (\($0.series[drawn.first ?? "loss"]?.count ?? 0) points)" }.joined(separator: ", "))")
        print("wrote \(written.joined(separator: " and "))")
    }
}
