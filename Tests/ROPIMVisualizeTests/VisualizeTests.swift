// Pictures: the corruption shown equals the model's Π, un-normalizing inverts the batch normalization,
// histograms account for every token, PNGs decode back, SVGs are XML, and metrics files parse.
import CPNG
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import ROPIMCore
import ROPIMData
import ROPIMKernels
import ROPIMNN
@testable import ROPIMVisualize

/// Dense (K, K)·(K, D) product, the slow oracle for the sparse operators.
private func denseApply(_ m: [Float], _ x: [Float], tokens k: Int, cols d: Int) -> [Float] {
    var out = [Float](repeating: 0, count: k * d)
    for i in 0..<k { for j in 0..<k where m[i * k + j] != 0 { for c in 0..<d { out[i * d + c] += m[i * k + j] * x[j * d + c] } } }
    return out
}

private func randomValues(_ n: Int, _ rng: inout RNG) -> [Float] { (0..<n).map { _ in Float(rng.normal()) } }

private func assertClose(_ a: [Float], _ b: [Float], tol: Float = 1e-5, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, what, file: file, line: line)
    var worst: Float = 0, at = -1
    for i in 0..<min(a.count, b.count) where abs(a[i] - b[i]) > worst { worst = abs(a[i] - b[i]); at = i }
    XCTAssertLessThanOrEqual(worst, tol, "\(what): largest difference \(worst) at \(at)", file: file, line: line)
}

private func tinyViT(img: Int = 8, patch: Int = 2, channels: Int = 1) -> ViTConfig {
    var v = ViTConfig()
    v.imgSize = img; v.patchSize = patch; v.inChans = channels
    v.embedDim = 16; v.depth = 1; v.numHeads = 2
    return v
}

final class PixelCorruptionTests: XCTestCase {
    func testTokenOperatorsEqualDenseProjector() throws {
        var rng = RNG(seed: 1)
        for (k, kp, sampler) in [(16, 4, SketchSampler.balanced), (49, 7, .balanced), (12, 5, .iid)] {
            let d = 12
            let sketch = try CountSketch.sample(tokens: k, buckets: kp, sampler: sampler, rng: &rng)
            let y = randomValues(k * d, &rng)
            for scale in [ProjectorScale.exact, .reference(0.14)] {
                let pi = sketch.denseProjector(scale: scale)
                assertClose(TokenOperator.project(sketch, scale).apply(y, cols: d), denseApply(pi, y, tokens: k, cols: d),
                            "Π·Y, K=\(k) K'=\(kp) \(scale)")
                var complement = pi.map { -$0 }
                for i in 0..<k { complement[i * k + i] += 1 }
                assertClose(TokenOperator.complement(sketch, scale).apply(y, cols: d), denseApply(complement, y, tokens: k, cols: d),
                            "(I − Π)·Y, K=\(k) K'=\(kp) \(scale)")
            }
        }
    }

    /// The pictures of a real (tiny, randomly initialized) model: the corrupted column is Π_b applied to the
    /// image's own patches with the model's own sketch, and the pasted and error columns follow from Ŷ.
    func testReconstructionPanelsUseTheModelsProjector() throws {
        var method = MethodConfig()
        method.sketchSize = 4
        let vit = tinyViT()
        let model = try Objectives.make(vit: vit, method: method)
        var rng = RNG(seed: 7)
        model.initialize(rng: &rng)
        let n = 3, k = vit.numPatches, pd = vit.patchDim, s = vit.imgSize
        let images = Tensor(shape: [n, 1, s, s], values: randomValues(n * s * s, &rng))
        let norm = Normalization(mean: [0.3], std: [0.4])
        var corruptionRNG = RNG(seed: 11)
        let r = Reconstructions.compute(model: model, images: images, normalization: norm, rng: &corruptionRNG, compute: .serial)
        XCTAssertEqual(model.sketches.count, n)
        let y = PictureImages.patches(images, patchSize: vit.patchSize, compute: .serial)
        let yHat = model.prediction.array
        func pixels(_ rows: [Float]) -> [Float] {
            var img = [Float](repeating: 0, count: s * s)
            rows.withUnsafeBufferPointer { src in img.withUnsafeMutableBufferPointer {
                Patches.unpatchify(src.baseAddress!, batch: 1, channels: 1, height: s, width: s, patch: vit.patchSize, into: $0.baseAddress!)
            } }
            return img.map { $0 * 0.4 + 0.3 }
        }
        for b in 0..<n {
            let yb = Array(y[(b * k * pd)..<((b + 1) * k * pd)]), hb = Array(yHat[(b * k * pd)..<((b + 1) * k * pd)])
            let pi = model.sketches[b].denseProjector(scale: .exact)
            var comp = pi.map { -$0 }
            for i in 0..<k { comp[i * k + i] += 1 }
            let plane = (b * s * s)..<((b + 1) * s * s)
            assertClose(Array(r.original[plane]), Array(images.array[plane]).map { $0 * 0.4 + 0.3 }, "original, image \(b)")
            assertClose(Array(r.corrupted[plane]), pixels(denseApply(pi, yb, tokens: k, cols: pd)), "corrupted = Π·patches, image \(b)")
            assertClose(Array(r.reconstruction[plane]), pixels(hb), "reconstruction, image \(b)")
            let pasted = zip(denseApply(pi, yb, tokens: k, cols: pd), denseApply(comp, hb, tokens: k, cols: pd)).map { $0 + $1 }
            assertClose(Array(r.pasted[plane]), pixels(pasted), "pasted = Π·Y + Π⊥·Ŷ, image \(b)")
            let err = denseApply(comp, zip(yb, hb).map { $0 - $1 }, tokens: k, cols: pd).map { abs($0) }
            assertClose(Array(r.error[plane]), pixels(err).map { ($0 - 0.3) / 0.4 }, tol: 1e-4, "error = |Π⊥(Y − Ŷ)|, image \(b)")
        }
        let grid = Reconstructions.grid(r, scale: 3)
        XCTAssertEqual(grid.width, 5 * s * 3 + 6 * 2)
    }

    func testMaskPanelsGreyTheMaskedPatches() throws {
        var method = MethodConfig()
        method.corruption = .mask
        method.maskPatchSize = 4
        let vit = tinyViT()
        let model = try Objectives.make(vit: vit, method: method)
        var rng = RNG(seed: 3)
        model.initialize(rng: &rng)
        let s = vit.imgSize, p = vit.patchSize, g = s / p
        let images = Tensor(shape: [2, 1, s, s], values: randomValues(2 * s * s, &rng))
        let norm = Normalization(mean: [0.5], std: [0.25])
        let r = Reconstructions.compute(model: model, images: images, normalization: norm, rng: &rng, compute: .serial)
        for b in 0..<2 {
            let m = model.masks[b]
            XCTAssertTrue(m.contains(1) && m.contains(0))
            for yy in 0..<s { for xx in 0..<s {
                let i = b * s * s + yy * s + xx, masked = m[(yy / p) * g + xx / p] > 0
                XCTAssertEqual(r.corrupted[i], masked ? Reconstructions.maskGray : r.original[i], accuracy: 1e-5)
                XCTAssertEqual(r.pasted[i], masked ? r.reconstruction[i] : r.original[i], accuracy: 1e-5)
                if !masked { XCTAssertEqual(r.error[i], 0) }
            } }
        }
    }

    func testUnnormalizeInvertsNormalize() {
        var rng = RNG(seed: 5)
        for (channels, norm) in [(3, Normalization.imagenet), (1, Normalization.fashionMNIST)] {
            let (n, h) = (4, 6)
            let pixels = (0..<(n * channels * h * h)).map { _ in UInt8(rng.int(below: 256)) }
            let data = ImageDataset(count: n, channels: channels, height: h, width: h, pixels: pixels, source: "test")
            let batch = Tensor(shape: [0])
            makeBatch(data, indices: Array(0..<n), size: h, outChannels: channels, augment: nil, normalization: norm, rng: &rng, into: batch, compute: .serial)
            var v = batch.array
            XCTAssertGreaterThan(zip(v, pixels).map { abs($0 - Float($1) / 255) }.max()!, 0.1, "the batch is normalized")
            Reconstructions.unnormalize(&v, channels: channels, height: h, width: h, normalization: norm)
            assertClose(v, pixels.map { Float($0) / 255 }, tol: 2e-6, "un-normalize ∘ normalize, \(channels) channels")
            // And per value, through Normalization itself.
            var w = (0..<(channels * 9)).map { _ in Float(rng.uniform()) }
            let orig = w
            for i in 0..<w.count { w[i] = norm.normalize(w[i], channel: i / 9) }
            Reconstructions.unnormalize(&w, channels: channels, height: 3, width: 3, normalization: norm)
            assertClose(w, orig, tol: 1e-6, "un-normalize ∘ normalize per value")
        }
    }
}

final class CorruptionAnalysisTests: XCTestCase {
    func testHistogramCountsEveryToken() throws {
        var rng = RNG(seed: 9)
        let vit = tinyViT(img: 8, patch: 2)   // K = 16
        var method = MethodConfig()
        method.sketchSize = 4
        method.maskPatchSize = 2
        let n = 25, k = vit.numPatches, pd = vit.patchDim
        var patches = randomValues(n * k * pd, &rng)
        for j in 0..<pd { patches[3 * pd + j] = 0; patches[(5 * k + 7) * pd + j] = 0 }   // two zero-energy tokens
        let a = try CorruptionAnalysis.run(patches: patches, images: n, vit: vit, method: method, rng: &rng)
        for h in [a.rop, a.mask] {
            XCTAssertEqual(h.counts.reduce(0, +) + h.undefined, n * k, "every token is counted once")
            XCTAssertEqual(h.total, n * k)
            XCTAssertEqual(h.undefined, 2)
        }
        XCTAssertEqual(a.ropKept.count, n * k)
        // Masking at ρ = 4/16 hides 12 of 16 tokens: fractions are exactly 0 or 1.
        XCTAssertEqual(a.maskedTokens, 12)
        XCTAssertEqual(a.mask.exactlyOne + a.mask.exactlyZero, n * k - 2)
        XCTAssertEqual(a.mask.counts[a.mask.bin(of: 1)] + a.mask.counts[0], n * k - 2)
        XCTAssertLessThan(a.rop.exactlyOne + a.rop.exactlyZero, n * k / 10, "ROPIM touches nearly every token")
        XCTAssertEqual(a.ropImageKept, 0.25, accuracy: 0.1, "Π keeps about ρ of an image's energy")
        // CSV rows add up too.
        let rows = a.histogramCSV.split(separator: "\n").dropFirst().map { $0.split(separator: ",") }
        XCTAssertEqual(rows.count, a.rop.bins + 1)
        XCTAssertEqual(rows.map { Int($0[2])! }.reduce(0, +), n * k - 2)
        XCTAssertEqual(rows.map { Int($0[3])! }.reduce(0, +), n * k - 2)
        XCTAssertEqual(rows.map { Int($0[4])! }.reduce(0, +), n * k - 2)
        // MAE at ρ = 4/16 shows its encoder 4 whole tokens per image: fractions exactly 0 or 1, 4 ones per image.
        XCTAssertEqual(a.mae.total, n * k); XCTAssertEqual(a.mae.undefined, 2)
        XCTAssertEqual(a.mae.exactlyOne + a.mae.exactlyZero, n * k - 2)
        for b in 0..<n {
            let kept = a.maeKept[(b * k)..<((b + 1) * k)]
            let ones = kept.filter { $0 == 1 }.count, undefined = kept.filter { $0.isNaN }.count   // images 0, 5: one zero-energy token
            XCTAssertTrue((4 - undefined...4).contains(ones), "image \(b): \(ones) visible tokens")
        }
        XCTAssertEqual(a.mae.mean, 0.25, accuracy: 0.05)
        XCTAssertTrue(a.tokensCSV.hasPrefix("image,token,energy,rop_kept,mask_kept,mae_kept\n"))
        XCTAssertTrue(a.summary.contains { $0.hasPrefix("MAE:   4/16 tokens visible") })
    }

    /// MAE panels: the visible input shows the visible patches and greys the hidden ones, the pasted column
    /// is the visible patches plus the prediction on the hidden ones, the error is zero on visible patches;
    /// with norm_pix_loss the reconstruction column is the per-patch un-normalized prediction.
    func testMAEPanelsShowVisiblePatchesAndThePrediction() throws {
        let vit: ViTConfig = { var v = tinyViT(); v.relPosBias = .none; v.posEmbed = .sincos; return v }()
        for normPix in [false, true] {
            var method = MethodConfig()
            method.corruption = .mae; method.decoderEmbedDim = 8; method.decoderDepth = 1; method.decoderNumHeads = 2
            method.normPixLoss = normPix
            let model = try Objectives.make(vit: vit, method: method)
            var rng = RNG(seed: 5)
            model.initialize(rng: &rng)
            let n = 2, s = vit.imgSize, k = vit.numPatches, pd = vit.patchDim
            let images = Tensor(shape: [n, 1, s, s], values: randomValues(n * s * s, &rng))
            let norm = Normalization(mean: [0], std: [1])   // pixels = normalized values: columns compare directly
            let r = Reconstructions.compute(model: model, images: images, normalization: norm, rng: &rng, compute: .serial)
            let y = PictureImages.patches(images, patchSize: vit.patchSize, compute: .serial)
            let yHat = model.picturePrediction
            func rows(_ img: [Float], _ b: Int) -> [Float] {   // one image's pixels as patch rows [K, pd]
                PictureImages.patches(Tensor(shape: [1, 1, s, s], values: Array(img[(b * s * s)..<((b + 1) * s * s)])),
                                      patchSize: vit.patchSize, compute: .serial)
            }
            let gray = norm.normalize(Reconstructions.maskGray, channel: 0)
            for b in 0..<n {
                let hidden = try XCTUnwrap(model.views(image: b).hidden)
                XCTAssertEqual(hidden.filter { !$0 }.count, MAE.keepCount(tokens: k, ratio: method.maeMaskRatio))
                let input = rows(r.corrupted, b), pasted = rows(r.pasted, b), recon = rows(r.reconstruction, b)
                let err = PictureImages.patches(Tensor(shape: [1, 1, s, s], values: Array(r.error[(b * s * s)..<((b + 1) * s * s)])),
                                                patchSize: vit.patchSize, compute: .serial)
                for t in 0..<k {
                    for j in 0..<pd {
                        let i = t * pd + j, g = (b * k + t) * pd + j
                        XCTAssertEqual(recon[i], yHat[g], accuracy: 1e-5, "reconstruction, norm_pix \(normPix)")
                        XCTAssertEqual(input[i], hidden[t] ? gray : y[g], accuracy: 1e-5, "input, norm_pix \(normPix)")
                        XCTAssertEqual(pasted[i], hidden[t] ? yHat[g] : y[g], accuracy: 1e-5, "pasted, norm_pix \(normPix)")
                        XCTAssertEqual(err[i], hidden[t] ? abs(y[g] - yHat[g]) : 0, accuracy: 1e-5, "error, norm_pix \(normPix)")
                    }
                }
            }
            XCTAssertEqual(r.columnTitles[1], "visible input")
        }
    }

    func testBinsAreRightClosed() {
        let h = KeptEnergyHistogram(binWidth: 0.05, upper: 2)
        XCTAssertEqual(h.bins, 40)
        XCTAssertEqual(h.bin(of: 0), 0)
        XCTAssertEqual(h.bin(of: 0.05), 0)
        XCTAssertEqual(h.bin(of: 0.0500001), 1)
        XCTAssertEqual(h.bin(of: 1), 19, "an untouched token falls in (0.95, 1]")
        XCTAssertEqual(h.bin(of: 2), 39)
        XCTAssertEqual(h.bin(of: 2.5), 40, "overflow")
    }

    /// K = 4, K' = 2: 24 balanced sketches, 6 masks of 2 out of 4; enough draws see all of them, and the
    /// canonical form identifies exactly the sketches with equal dense Π.
    func testPatternCountsMatchEnumeration() throws {
        let vit = tinyViT(img: 4, patch: 2)
        var method = MethodConfig()
        method.sketchSize = 2
        method.maskPatchSize = 2
        var rng = RNG(seed: 2)
        let n = 2000
        let a = try CorruptionAnalysis.run(patches: randomValues(n * 4 * 4, &rng), images: n, vit: vit, method: method, rng: &rng)
        let sketches = a.patterns[0], projectors = a.patterns[1], masks = a.patterns[2], mae = a.patterns[3]
        XCTAssertEqual(mae.exact, 6)       // C(4, 2) visible sets
        XCTAssertEqual(mae.distinct, 6)
        XCTAssertEqual(sketches.exact, 24)
        XCTAssertEqual(sketches.distinct, 24)
        XCTAssertEqual(masks.exact, 6)
        XCTAssertEqual(masks.distinct, 6)
        // Enumerate every balanced sketch: distinct dense Π and distinct canonical forms must agree.
        var dense = Set<[Float]>(), canonical = Set<[Int32]>()
        for h in [[0, 1, 0, 1], [0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 1, 0]] as [[Int32]] {
            for plus in [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]] {
                let s: [Float] = (0..<4).map { plus.contains($0) ? 1 : -1 }
                let sk = CountSketch(bucket: h, sign: s, buckets: 2)
                dense.insert(sk.denseProjector(scale: .exact))
                canonical.insert(CorruptionAnalysis.canonicalProjector(sk))
            }
        }
        XCTAssertEqual(dense.count, canonical.count)
        XCTAssertEqual(projectors.distinct, dense.count)
        XCTAssertLessThanOrEqual(Double(dense.count), projectors.exact!)
        // Fashion-MNIST sizes: C(49, 42) masks.
        XCTAssertEqual(pow(10, Combinatorics.log10Binomial(49, 42)), 85_900_584, accuracy: 1)
    }
}

final class FileFormatTests: XCTestCase {
    private func tempPath(_ name: String) -> String {
        let dir = NSTemporaryDirectory() + "ropim-visualize-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/" + name
    }

    func testPNGRoundTripWithLibpngReader() throws {
        var rng = RNG(seed: 4)
        var c = Canvas(width: 37, height: 23)
        for i in 0..<c.pixels.count { c.pixels[i] = UInt8(rng.int(below: 256)) }
        c.text("Ab1", x: 2, y: 2, color: .black)
        let path = tempPath("roundtrip.png")
        try PNG.write(c, to: path)
        let files = try FileManager.default.contentsOfDirectory(atPath: (path as NSString).deletingLastPathComponent)
        XCTAssertFalse(files.contains { $0.contains(".tmp-") }, "no temporary file left behind")

        // Decode with libpng's simplified read API directly (not through our wrapper).
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path))
        XCTAssertEqual(Array(data.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var image = png_image()
        image.version = 1
        XCTAssertNotEqual(data.withUnsafeBytes { png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }, 0)
        XCTAssertEqual(image.width, 37)
        XCTAssertEqual(image.height, 23)
        image.format = 0x02   // RGB
        var out = [UInt8](repeating: 0, count: 37 * 23 * 3)
        XCTAssertNotEqual(out.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 37 * 3, nil) }, 0)
        XCTAssertEqual(out, c.pixels)
        XCTAssertEqual(try PNG.read(path), c)
    }

    func testPNGErrorsAreReportedNotFatal() {
        XCTAssertThrowsError(try PNG.decode(Data("not a png at all".utf8))) { XCTAssertTrue("\($0)".contains("not a readable PNG")) }
        XCTAssertThrowsError(try PNG.write(Canvas(width: 2, height: 2), to: "/nonexistent-dir/x.png"))
    }

    private func parses(_ xml: String, file: StaticString = #filePath, line: UInt = #line) -> [String: Int] {
        final class Counter: NSObject, XMLParserDelegate {
            var elements: [String: Int] = [:]
            func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                        attributes: [String: String] = [:]) { elements[name, default: 0] += 1 }
        }
        let parser = XMLParser(data: Data(xml.utf8))
        let counter = Counter()
        parser.delegate = counter
        XCTAssertTrue(parser.parse(), "SVG is not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?")", file: file, line: line)
        return counter.elements
    }

    func testSVGIsWellFormedXML() throws {
        let runs = [RunMetrics(name: "a&b <run> \"1\"", jsonl: "{\"step\":1,\"loss\":1.0,\"lr\":0.001,\"grad_norm\":2}\n{\"step\":2,\"loss\":0.5,\"lr\":0.002,\"grad_norm\":1}\n"),
                    RunMetrics(name: "b's run", jsonl: "{\"step\":1,\"loss\":0.9,\"lr\":0.001,\"grad_norm\":3,\"knn_top1\":0.4}\n")]
        let fig = TrainingCurves.figure(runs)
        let svg = fig.svg()
        let elements = parses(svg)
        XCTAssertEqual(elements["svg"], 1)
        XCTAssertEqual(elements["polyline"], 7, "loss, lr, grad_norm for two runs + knn_top1 for one")
        XCTAssertTrue(svg.contains("a&amp;b &lt;run&gt;"))
        let png = try PNG.decode(try fig.png())
        XCTAssertEqual(png.width, fig.width)
        XCTAssertEqual(png.height, fig.height)

        var rng = RNG(seed: 1)
        var method = MethodConfig()
        method.sketchSize = 4
        method.maskPatchSize = 2
        let a = try CorruptionAnalysis.run(patches: randomValues(10 * 16 * 4, &rng), images: 10, vit: tinyViT(), method: method, rng: &rng)
        let histogram = parses(a.figure(title: "kept <energy> & more").svg())
        XCTAssertGreaterThan(histogram["rect"] ?? 0, 2 * a.rop.bins / 2)
    }

    /// `ropim plot --x hours --metric knn_top1`: x from another key, lines without it left out, one panel.
    func testMetricsAgainstAnotherKeyAndChosenPanels() throws {
        let text = """
        {"step":10,"epoch":1,"loss":0.9}
        {"epoch":1,"hours":0.01,"knn_top1":50.5}
        {"epoch":2,"hours":0.02,"knn_top1":55}
        """
        let m = RunMetrics(name: "r", jsonl: text, x: "hours")
        XCTAssertEqual(m.series["knn_top1"]?.map(\.x), [0.01, 0.02])
        XCTAssertEqual(m.series["knn_top1"]?.map(\.y), [50.5, 55])
        XCTAssertEqual(m.series["epoch"]?.count, 2, "the line without hours is left out")
        XCTAssertNil(m.series["loss"]); XCTAssertNil(m.series["hours"])
        XCTAssertEqual(RunMetrics(name: "r", jsonl: text).series["knn_top1"]?.map(\.x), [2, 3], "x step: line numbers")
        let fig = TrainingCurves.figure([m, RunMetrics(name: "s", jsonl: text, x: "hours")], metrics: ["knn_top1"], xLabel: "hours")
        XCTAssertEqual(fig.panels.count, 1)
        XCTAssertEqual(fig.panels[0].xLabel, "hours")
        XCTAssertEqual(parses(fig.svg())["polyline"], 2)
    }

    func testMetricsParsing() {
        let text = """
        {"step":1,"epoch":1,"loss":0.9,"lr":1e-5,"grad_norm":3.5,"images_per_second":100,"time":1}
        {"step":2,"epoch":1,"loss":0.8,"lr":2e-5,"grad_norm":3.0,"images_per_second":110,"time":2}
        {"step":2,"knn_top1":0.55}
        {"step":3,"loss":0.7,"lr":3e
        """
        let m = RunMetrics(name: "r", jsonl: text)
        XCTAssertEqual(m.skippedLines, [4], "a partial last line is skipped")
        XCTAssertEqual(m.series["loss"]?.map(\.y), [0.9, 0.8])
        XCTAssertEqual(m.series["knn_top1"]?.map(\.x), [2])
        XCTAssertEqual(TrainingCurves.keys([m]), ["loss", "lr", "grad_norm", "knn_top1"])
        XCTAssertEqual(TrainingCurves.smooth([(x: 1, y: 1), (x: 2, y: 3), (x: 3, y: 5)], window: 2).map(\.y), [1, 2, 4])
        XCTAssertEqual(TrainingCurves.uniqueNames(["a", "b", "a"]), ["a", "b", "a #2"])
    }

    func testAxisTicksAndLabels() {
        let t = Axis.ticks(0...1)
        XCTAssertEqual(t.step, 0.2, accuracy: 1e-12)
        XCTAssertEqual(t.values.count, 6)
        XCTAssertEqual(Axis.label(0.0004, step: 0.0001), "4e-4")
        XCTAssertEqual(Axis.label(0.25, step: 0.05), "0.25")
        XCTAssertEqual(Axis.label(1500, step: 500), "1500")
        let padded = Axis.ticks(0.13...0.87, pad: true)
        XCTAssertLessThanOrEqual(padded.range.lowerBound, 0.13)
        XCTAssertGreaterThanOrEqual(padded.range.upperBound, 0.87)
    }

    func testFontCoversLabelsAndCanvasDrawsIt() {
        let question = BitmapFont.glyph("?")
        for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.,-_:/()%=+[]|Πŷ⊥" {
            XCTAssertEqual(BitmapFont.glyph(ch).count, 7)
            XCTAssertTrue(BitmapFont.glyph(ch).allSatisfy { $0 < 32 })
            if ch != "?" { XCTAssertNotEqual(BitmapFont.glyph(ch), question, "missing glyph for \(ch)") }
        }
        var c = Canvas(width: 20, height: 9)
        c.text("1", x: 0, y: 0, color: .black)
        XCTAssertEqual(c[2, 0], .black, "the top of '1'")
        XCTAssertEqual(c[0, 0], .white)
        XCTAssertEqual(BitmapFont.width(of: "ab"), 11)
    }
}

/// The per-image draws of the built-in objectives, for tests that check them against dense forms.
private extension PretrainingObjective {
    var sketches: [CountSketch] { (self as? ReconstructionModel<ROPIM>)?.corruption.sketches ?? [] }
    var masks: [[Float]] { (self as? ReconstructionModel<SimMIM>)?.corruption.masks ?? [] }
    var maskToken: ParamRef? { (self as? ReconstructionModel<SimMIM>)?.corruption.maskToken }
}

/// Attention maps: the probabilities read back equal a hand computation (LayerNorm, q/k with their biases, the
/// relative position bias, softmax) of the last block from its input, rows sum to 1, and rollout equals the
/// product of the renormalized head means written out by hand.
final class AttentionMapTests: XCTestCase {
    /// A 2-block encoder with random weights (biases and position tables included) and its maps on 3 images.
    func model(relPos: RelativePositionMode) -> (VisionTransformer, Tensor) {
        var v = tinyViT(img: 8, patch: 2, channels: 1)
        v.depth = 2; v.relPosBias = relPos; v.posEmbed = .learned; v.layerScaleInit = 0.1; v.dropPathRate = 0
        let store = ParameterStore()
        let vit = VisionTransformer(config: v, params: store)
        store.allocate()
        var rng = RNG(seed: 5)
        vit.initialize(rng: &rng)
        for i in 0..<store.count { store.values[i] += Float(rng.normal()) * 0.3 }
        return (vit, Tensor(shape: [3, 1, 8, 8], values: randomValues(3 * 64, &rng)))
    }

    func testLastBlockProbabilitiesEqualAHandComputation() throws {
        for relPos in [RelativePositionMode.shared, .perBlock, .none] {
            let (vit, images) = model(relPos: relPos)
            let maps = AttentionMaps.compute(encoder: vit, images: images, compute: .serial)
            let probs = vit.lastAttentionProbabilities()
            let v = vit.config, n = v.numTokens, d = v.embedDim, h = v.numHeads, hd = d / h, k = v.numPatches
            let p = vit.params, blk = vit.blocks[1]
            func param(_ name: String) -> [Double] {
                let e = p.entry(name)!
                return UnsafeBufferPointer(start: p.value(e.ref), count: e.ref.count).map(Double.init)
            }
            let input = vit.blocks[0].output.array.map(Double.init)   // the last block's input [B·N, D]
            let (g, beta) = (param("blocks.1.norm1.weight"), param("blocks.1.norm1.bias"))
            let w = param("blocks.1.attn.qkv.weight"), qb = param("blocks.1.attn.q_bias")   // [3D, D]; the k bias is zero
            let table = relPos == .shared ? param("rel_pos_bias.relative_position_bias_table")
                : relPos == .perBlock ? param("blocks.1.attn.relative_position_bias_table") : []
            let index = RelativePositionBias.makeIndex(gridHeight: v.gridSize, gridWidth: v.gridSize)
            for b in 0..<3 {
                var q = [[Double]](), kk = [[Double]]()
                for t in 0..<n {
                    let x = Array(input[((b * n + t) * d)..<((b * n + t + 1) * d)])
                    let mean = x.reduce(0, +) / Double(d), variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
                    let y = (0..<d).map { (x[$0] - mean) / (variance + 1e-6).squareRoot() * g[$0] + beta[$0] }
                    q.append((0..<d).map { o in (0..<d).reduce(qb[o]) { $0 + w[o * d + $1] * y[$1] } })
                    kk.append((0..<d).map { o in (0..<d).reduce(0) { $0 + w[(d + o) * d + $1] * y[$1] } })
                }
                for head in 0..<h {
                    for i in 0..<n {
                        var s = (0..<n).map { j in
                            (0..<hd).reduce(0.0) { $0 + q[i][head * hd + $1] * kk[j][head * hd + $1] } / Double(hd).squareRoot()
                                + (table.isEmpty ? 0 : table[Int(index[i * n + j]) * h + head])
                        }
                        let top = s.max()!
                        s = s.map { exp($0 - top) }
                        let sum = s.reduce(0, +)
                        let got = probs[1][((b * h + head) * n + i) * n..<((b * h + head) * n + i + 1) * n]
                        XCTAssertEqual(Double(got.reduce(0, +)), 1, accuracy: 1e-5, "\(relPos) row sums to 1")
                        for j in 0..<n { XCTAssertEqual(Double(got[got.startIndex + j]), s[j] / sum, accuracy: 2e-5, "\(relPos) image \(b) head \(head) P[\(i), \(j)]") }
                    }
                    // The per-head map is the class token's row over the patches.
                    for j in 0..<k {
                        XCTAssertEqual(maps.lastBlock[(b * h + head) * k + j], probs[1][(b * h + head) * n * n + 1 + j])
                    }
                }
            }
        }
    }

    func testRolloutIsTheProductOfRenormalizedHeadMeans() throws {
        let (vit, images) = model(relPos: .shared)
        let maps = AttentionMaps.compute(encoder: vit, images: images, compute: .serial)
        let probs = vit.lastAttentionProbabilities()
        let v = vit.config, n = v.numTokens, h = v.numHeads, k = v.numPatches
        for b in 0..<3 {
            // Â_l = ½ (mean_h P_l + I) (rows of P sum to 1, so the renormalization halves them); R = Â_2 · Â_1.
            let hat = (0..<2).map { l in
                (0..<(n * n)).map { e in 0.5 * ((0..<h).reduce(0.0) { $0 + Double(probs[l][(b * h + $1) * n * n + e]) } / Double(h) + (e / n == e % n ? 1 : 0)) }
            }
            let r = AttentionMaps.rollout(probs, image: b, heads: h, tokens: n)
            for i in 0..<n {
                XCTAssertEqual(r[(i * n)..<((i + 1) * n)].reduce(0, +), 1, accuracy: 1e-5, "rollout rows sum to 1")
                for j in 0..<n {
                    let expected = (0..<n).reduce(0.0) { $0 + hat[1][i * n + $1] * hat[0][$1 * n + j] }
                    XCTAssertEqual(Double(r[i * n + j]), expected, accuracy: 1e-6, "R[\(i), \(j)]")
                }
            }
            XCTAssertEqual(Array(maps.rollout[(b * k)..<((b + 1) * k)]), Array(r[1..<n]), "the map is the class token's row")
            for j in 0..<k {
                let mean = (0..<h).reduce(Float(0)) { $0 + maps.lastBlock[(b * h + $1) * k + j] } / Float(h)
                XCTAssertEqual(maps.mean[b * k + j], mean, accuracy: 1e-7)
            }
        }
        // Attention that stays on each token (P = I in every block) rolls out to the identity.
        let identity = [Float]((0..<(h * n * n)).map { e in (e % (n * n)) / n == e % n ? 1 : 0 })
        let r = AttentionMaps.rollout([identity, identity], image: 0, heads: h, tokens: n)
        XCTAssertEqual(r, (0..<(n * n)).map { $0 / n == $0 % n ? 1 : 0 })
        // The picture: one row per image, the image plus H + 2 maps; it encodes as PNG.
        var pixels = images.array
        Reconstructions.unnormalize(&pixels, channels: 1, height: 8, width: 8, normalization: Normalization(mean: [0.5], std: [0.25]))
        let c = maps.picture(pixels: pixels, channels: 1, size: 8, scale: 4, title: "test")
        XCTAssertEqual(maps.columnTitles, ["image", "head 1", "head 2", "mean", "rollout"])
        XCTAssertGreaterThanOrEqual(c.width, 5 * 32)
        XCTAssertEqual(try PNG.decode(try PNG.encode(c)), c)
    }
}

/// PCA against known decompositions, and the embedding picture's numbers.
final class PCATests: XCTestCase {
    /// A random orthogonal n×n matrix (Gram–Schmidt of normal columns), row-major, columns orthonormal.
    func orthogonal(_ n: Int, _ rng: inout RNG) -> [Double] {
        var cols: [[Double]] = []
        while cols.count < n {
            var v = (0..<n).map { _ in rng.normal() }
            for c in cols { let dot = zip(v, c).reduce(0) { $0 + $1.0 * $1.1 }; v = zip(v, c).map { $0 - dot * $1 } }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            cols.append(v.map { $0 / norm })
        }
        return (0..<(n * n)).map { cols[$0 % n][$0 / n] }
    }

    func testJacobiRecoversAKnownDecomposition() {
        var rng = RNG(seed: 8)
        let n = 7, q = orthogonal(n, &rng), lambda: [Double] = [9, -4, 3.5, 2, 1e-3, 0, -0.25]
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for k in 0..<n { a[i * n + j] += q[i * n + k] * lambda[k] * q[j * n + k] } } }
        let (values, vectors) = PCA.symmetricEigen(a, size: n)
        for k in 0..<n {
            // Each eigenvalue of a is found, with its eigenvector up to sign.
            let found = values.indices.min { abs(values[$0] - lambda[k]) < abs(values[$1] - lambda[k]) }!
            XCTAssertEqual(values[found], lambda[k], accuracy: 1e-10)
            let dot = (0..<n).reduce(0.0) { $0 + vectors[$1 * n + found] * q[$1 * n + k] }
            XCTAssertEqual(abs(dot), 1, accuracy: 1e-9, "eigenvector of \(lambda[k])")
        }
        for i in 0..<n { for j in 0..<n {   // Vᵀ V = I
            XCTAssertEqual((0..<n).reduce(0.0) { $0 + vectors[$1 * n + i] * vectors[$1 * n + j] }, i == j ? 1 : 0, accuracy: 1e-10)
        } }
    }

    /// Four points m ± a·q1, m ± b·q2: mean m, covariance (2a² q1q1ᵀ + 2b² q2q2ᵀ) / 3, projections (±a, 0), (0, ±b).
    func testPCAOfPointsAlongKnownAxes() {
        var rng = RNG(seed: 9)
        let d = 5, q = orthogonal(d, &rng), a = 3.0, b = 1.5
        let m = (0..<d).map { _ in rng.normal() }
        let q1 = (0..<d).map { q[$0 * d] }, q2 = (0..<d).map { q[$0 * d + 1] }
        let rows: [[Double]] = [zip(m, q1).map { $0 + a * $1 }, zip(m, q1).map { $0 - a * $1 }, zip(m, q2).map { $0 + b * $1 }, zip(m, q2).map { $0 - b * $1 }]
        let x = rows.flatMap { $0.map(Float.init) }
        let pca = PCA.fit(x, rows: 4, cols: d, components: 2)
        XCTAssertEqual(pca.variances[0], 2 * a * a / 3, accuracy: 1e-5)
        XCTAssertEqual(pca.variances[1], 2 * b * b / 3, accuracy: 1e-5)
        XCTAssertEqual(pca.totalVariance, 2 * (a * a + b * b) / 3, accuracy: 1e-5)
        for j in 0..<d { XCTAssertEqual(pca.mean[j], m[j], accuracy: 1e-6) }
        XCTAssertEqual(abs(zip(pca.components[0], q1).reduce(0) { $0 + $1.0 * $1.1 }), 1, accuracy: 1e-6)
        XCTAssertEqual(abs(zip(pca.components[1], q2).reduce(0) { $0 + $1.0 * $1.1 }), 1, accuracy: 1e-6)
        let p = pca.project(x, rows: 4), s1 = zip(pca.components[0], q1).reduce(0) { $0 + $1.0 * $1.1 } > 0 ? 1.0 : -1.0
        for (got, want) in zip(p, [a * s1, 0, -a * s1, 0, 0, nil, 0, nil] as [Double?]) where want != nil { XCTAssertEqual(got, want!, accuracy: 1e-5) }
        XCTAssertEqual(abs(p[5]), b, accuracy: 1e-5)
    }

    func testBetweenClassShareAndFigure() throws {
        var rng = RNG(seed: 10)
        // Two tight clusters far apart, labelled by cluster: nearly all the variance is between classes; the
        // same points with labels alternating within each cluster: none is.
        let n = 40, d = 3
        var x = [Float]()
        for i in 0..<n { for j in 0..<d {
            let centre: Float = j == 0 ? (i < n / 2 ? 10 : -10) : 0
            x.append(centre + Float(rng.normal()) * 0.01)
        } }
        let apart = EmbeddingProjection(name: "a", features: x, rows: n, dim: d, labels: (0..<n).map { $0 < n / 2 ? 0 : 1 })
        XCTAssertGreaterThan(apart.betweenClassShare, 0.999)
        XCTAssertGreaterThan(apart.explained.0, 0.999)
        let mixed = EmbeddingProjection(name: "b", features: x, rows: n, dim: d, labels: (0..<n).map { $0 % 2 })
        XCTAssertLessThan(mixed.betweenClassShare, 0.01)
        let names = EmbeddingPicture.classNames(dataset: nil, path: "/usr/share/datasets/fashion-mnist", classes: 2)
        XCTAssertEqual(names, ["T-shirt/top", "Trouser"])
        XCTAssertEqual(EmbeddingPicture.classNames(dataset: nil, path: "/data/mnist", classes: 2), ["class 0", "class 1"])
        let figure = EmbeddingPicture.figure([apart, mixed], classNames: names, title: "t", notes: [])
        XCTAssertEqual(figure.panels.count, 2)
        XCTAssertEqual(figure.panels[0].series.map { (s: Series) -> Int in s.points.count }, [20, 20], "every point drawn once, in its class's series")
        let png = try PNG.decode(try figure.png())
        XCTAssertEqual([png.width, png.height], [figure.width, figure.height])
        let csv = EmbeddingPicture.csv([apart, mixed], indices: Array(100..<(100 + n))).split(separator: "\n")
        XCTAssertEqual(csv.count, n + 1)
        XCTAssertEqual(csv[0], "index,label,pc1_1,pc2_1,pc1_2,pc2_2")
        XCTAssert(csv[1].hasPrefix("100,0,"), String(csv[1]))
    }
}
