// Pictures of frozen features: each checkpoint's features of the same images projected on their own first two
// principal components (PCA.swift), one scatter panel per checkpoint, points coloured by label, drawn through
// the chart layer (PNG and SVG) and written as CSV.

import Foundation

/// One checkpoint's features on their first two principal axes.
public struct EmbeddingProjection: Sendable {
    public let name: String
    public let pca: PCA
    /// [n, 2]: (PC1, PC2) per image.
    public let coordinates: [Double]
    public let labels: [Int]
    /// The between-class share of the 2-D variance, Σ_c n_c ‖μ_c − μ‖² / Σ_i ‖x_i − μ‖² (0: the classes are mixed,
    /// 1: each class is a point).
    public let betweenClassShare: Double

    /// Fits the PCA of `features` [n, dim] (n ≥ 2) and projects them; `labels` [n].
    public init(name: String, features: [Float], rows n: Int, dim: Int, labels: [Int]) {
        precondition(labels.count == n, "\(labels.count) labels for \(n) feature rows")
        self.name = name
        self.labels = labels
        pca = PCA.fit(features, rows: n, cols: dim, components: 2)
        coordinates = pca.project(features, rows: n)
        var total = 0.0, between = 0.0
        var sums: [Int: (x: Double, y: Double, n: Double)] = [:]
        for i in 0..<n {   // the coordinates are centred: the overall mean is 0
            total += coordinates[2 * i] * coordinates[2 * i] + coordinates[2 * i + 1] * coordinates[2 * i + 1]
            let s = sums[labels[i]] ?? (0, 0, 0)
            sums[labels[i]] = (s.x + coordinates[2 * i], s.y + coordinates[2 * i + 1], s.n + 1)
        }
        for s in sums.values { between += (s.x * s.x + s.y * s.y) / s.n }
        betweenClassShare = total > 0 ? between / total : 0
    }

    /// The fraction of the total variance along PC1 and PC2.
    public var explained: (Double, Double) {
        pca.totalVariance > 0 ? (pca.variances[0] / pca.totalVariance, pca.variances[1] / pca.totalVariance) : (0, 0)
    }
}

public enum EmbeddingPicture {
    /// Fashion-MNIST's class names (its IDX files carry none; Xiao et al. 2017, index = label).
    public static let fashionMNISTClassNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                                                "Sneaker", "Bag", "Ankle boot"]

    /// Names for labels 0..<classes: the dataset's own, else Fashion-MNIST's for an IDX folder whose path says
    /// fashion-mnist, else "class i".
    public static func classNames(dataset names: [String]?, path: String, classes: Int) -> [String] {
        if let names, names.count >= classes { return names }
        if classes <= 10 && path.lowercased().contains("fashion") { return Array(fashionMNISTClassNames.prefix(classes)) }
        return (0..<classes).map { "class \($0)" }
    }

    /// Side-by-side scatter panels, one per projection, with a legend of the classes.
    public static func figure(_ projections: [EmbeddingProjection], classNames: [String], title: String, notes: [String]) -> Figure {
        let color = { (c: Int) in RGB.palette[c % RGB.palette.count] }
        let panels = projections.map { p -> Panel in
            let (e1, e2) = p.explained
            let series = classNames.indices.map { c in
                Series(name: classNames[c], color: color(c),
                       points: p.labels.indices.filter { p.labels[$0] == c }.map { (x: p.coordinates[2 * $0], y: p.coordinates[2 * $0 + 1]) },
                       style: .points(size: 3))
            }
            return Panel(title: "\(p.name): between-class share \(String(format: "%.2f", p.betweenClassShare))",
                         xLabel: String(format: "PC1 (%.1f %% of variance)", 100 * e1),
                         yLabel: String(format: "PC2 (%.1f %%)", 100 * e2), series: series)
        }
        return Figure(title: title, notes: notes, legend: classNames.indices.map { (classNames[$0], color($0)) }, panels: panels,
                      columns: projections.count, panelWidth: 440, panelHeight: 420)
    }

    /// CSV: image index, label, then PC1 and PC2 of each projection.
    public static func csv(_ projections: [EmbeddingProjection], indices: [Int]) -> String {
        var out = "index,label" + projections.indices.map { ",pc1_\($0 + 1),pc2_\($0 + 1)" }.joined() + "\n"
        for (i, index) in indices.enumerated() {
            out += "\(index),\(projections[0].labels[i])"
            for p in projections { out += String(format: ",%.6g,%.6g", p.coordinates[2 * i], p.coordinates[2 * i + 1]) }
            out += "\n"
        }
        return out
    }
}
