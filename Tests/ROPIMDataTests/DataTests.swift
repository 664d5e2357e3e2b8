// Data pipeline tests: IDX round trips and every rejection path, the installed Fashion-MNIST, crop
// geometry, bilinear resampling against torch's values, flips, normalization, batches, synthetic data.

import Foundation
import XCTest
@testable import ROPIMKernels
@testable import ROPIMData

/// Small gray dataset with random pixels and labels 0..<classes (every class present).
private func randomGray(count: Int, height: Int, width: Int, classes: Int, seed: UInt64) -> ImageDataset {
    var rng = RNG(seed: seed)
    let pixels = (0..<count * height * width).map { _ in UInt8(rng.int(below: 256)) }
    let labels = (0..<count).map { Int32($0 % classes) }
    return ImageDataset(count: count, channels: 1, height: height, width: width, pixels: pixels,
                        labels: labels, classes: classes, source: "test")
}

final class IDXTests: XCTestCase {
    func testRoundTripGzipAndRawAndFindsBothNames() throws {
        let data = randomGray(count: 5, height: 7, width: 4, classes: 3, seed: 11)
        for gzip in [true, false] {
            let dir = scratchFolder("data")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let paths = try IDX.write(data, split: .train, to: dir, gzip: gzip)
            XCTAssertEqual(paths.images.hasSuffix(".gz"), gzip)
            if gzip {   // really compressed: the file does not start with the IDX magic
                let head = try Data(contentsOf: URL(fileURLWithPath: paths.images)).prefix(2)
                XCTAssertEqual(Array(head), [0x1F, 0x8B])
            }
            let images = try IDX.readImages(path: paths.images)
            XCTAssertEqual(images.count, 5)
            XCTAssertEqual(images.height, 7)
            XCTAssertEqual(images.width, 4)
            XCTAssertEqual(images.pixels, data.pixels)
            XCTAssertEqual(try IDX.readLabels(path: paths.labels!), data.labels!)

            let loaded = try IDX.loadFolder(dir, split: .train)
            XCTAssertEqual(loaded.pixels, data.pixels)
            XCTAssertEqual(loaded.labels, data.labels)
            XCTAssertEqual(loaded.classes, 3)
            XCTAssertEqual(loaded.channels, 1)
            XCTAssertEqual(loaded.source, paths.images)
            assertDataError([dir, "t10k-images-idx3-ubyte"]) { _ = try IDX.loadFolder(dir, split: .test) }
        }
        let dir = scratchFolder("data")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try IDX.write(data, split: .test, to: dir, gzip: false)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/t10k-images-idx3-ubyte"))
        XCTAssertEqual(try IDX.loadFolder(dir, split: .test).pixels, data.pixels)
    }

    func testTruncatedFilesNameTheFileAndTheShortfall() throws {
        let dir = scratchFolder("data")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = randomGray(count: 6, height: 5, width: 5, classes: 2, seed: 3)
        let full = IDX.encodeImages(data.pixels, count: 6, height: 5, width: 5)
        XCTAssertEqual(full.count, 16 + 150)
        for gzip in [false, true] {
            let path = dir + "/cut" + (gzip ? ".gz" : "")
            try IDX.writeFile(Array(full.prefix(100)), path: path, gzip: gzip)
            assertDataError([path, "file ends after 100 of 166 bytes", "truncated"]) { _ = try IDX.readImages(path: path) }
            try IDX.writeFile(Array(full.prefix(10)), path: path, gzip: gzip)
            assertDataError([path, "file ends after 10 of the 16-byte header"]) { _ = try IDX.readImages(path: path) }
        }
        // A gzip stream cut mid-way (the usual interrupted download).
        let gz = dir + "/whole.gz"
        try IDX.writeFile(full, path: gz, gzip: true)
        let compressed = try Data(contentsOf: URL(fileURLWithPath: gz))
        let cut = dir + "/cut-stream.gz"
        try compressed.prefix(compressed.count - 12).write(to: URL(fileURLWithPath: cut))
        assertDataError([cut, "truncated"]) { _ = try IDX.readImages(path: cut) }
    }

    func testWrongMagicTrailingBytesAndCorruptGzip() throws {
        let dir = scratchFolder("data")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let labels = IDX.encodeLabels([0, 1, 2])
        let path = dir + "/train-images-idx3-ubyte"
        try IDX.writeFile(labels, path: path, gzip: false)
        assertDataError([path, "magic number 0x00000801", "0x00000803", "labels file"]) { _ = try IDX.readImages(path: path) }
        try IDX.writeFile([0x50, 0x4B, 3, 4] + [UInt8](repeating: 0, count: 40), path: path, gzip: false)
        assertDataError([path, "magic number 0x504b0304"]) { _ = try IDX.readImages(path: path) }

        let images = IDX.encodeImages([UInt8](repeating: 9, count: 2 * 3 * 3), count: 2, height: 3, width: 3)
        for gzip in [false, true] {
            let p = dir + "/trailing" + (gzip ? ".gz" : "")
            try IDX.writeFile(images + [1, 2, 3], path: p, gzip: gzip)
            assertDataError([p, "3 unexpected bytes after the 34 bytes"]) { _ = try IDX.readImages(path: p) }
            try IDX.writeFile(labels + [7], path: p, gzip: gzip)
            assertDataError([p, "1 unexpected byte after the 11 bytes"]) { _ = try IDX.readLabels(path: p) }
        }

        let gz = dir + "/corrupt.gz"
        try IDX.writeFile(IDX.encodeImages(Array(repeating: 0, count: 4000) + (0..<4000).map { UInt8($0 % 251) },
                                           count: 8, height: 25, width: 40), path: gz, gzip: true)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: gz)))
        for i in 20..<bytes.count - 20 where i % 7 == 0 { bytes[i] ^= 0x5A }
        try Data(bytes).write(to: URL(fileURLWithPath: gz))
        assertDataError([gz, "gzip data is damaged"]) { _ = try IDX.readImages(path: gz) }

        let zero = dir + "/zero"
        try IDX.writeFile(IDX.header(magic: IDX.imagesMagic, dims: [0, 28, 28]), path: zero, gzip: false)
        assertDataError([zero, "must be positive"]) { _ = try IDX.readImages(path: zero) }
    }

    func testLabelCountMismatchAndMissingFilesAndFolders() throws {
        let dir = scratchFolder("data")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = randomGray(count: 5, height: 4, width: 4, classes: 5, seed: 5)
        try IDX.writeFile(IDX.encodeImages(data.pixels, count: 5, height: 4, width: 4),
                          path: dir + "/train-images-idx3-ubyte.gz", gzip: true)
        // Images only: labels required by default, optional on request.
        assertDataError([dir, "no labels", "train-labels-idx1-ubyte"]) { _ = try IDX.loadFolder(dir, split: .train) }
        let unlabelled = try IDX.loadFolder(dir, split: .train, requireLabels: false)
        XCTAssertNil(unlabelled.labels)
        XCTAssertEqual(unlabelled.pixels, data.pixels)

        let labelsPath = dir + "/train-labels-idx1-ubyte"
        try IDX.writeFile(IDX.encodeLabels([0, 1, 2, 3]), path: labelsPath, gzip: false)
        assertDataError([labelsPath, "4 labels", "5 images", dir + "/train-images-idx3-ubyte.gz"]) {
            _ = try IDX.loadFolder(dir, split: .train)
        }

        let missing = dir + "/no-such-folder"
        assertDataError([missing, "does not exist", "train-images-idx3-ubyte[.gz]", "train-labels-idx1-ubyte[.gz]",
                         "apt-get install dataset-fashion-mnist", "--data PATH"]) {
            _ = try IDX.loadFolder(missing, split: .train)
        }
        assertDataError([labelsPath, "is a file"]) { _ = try IDX.loadFolder(labelsPath, split: .train) }
        let empty = scratchFolder("data")
        defer { try? FileManager.default.removeItem(atPath: empty) }
        assertDataError([empty, "t10k-images-idx3-ubyte[.gz]", "apt-get install dataset-fashion-mnist"]) {
            _ = try IDX.loadFolder(empty, split: .test)
        }
        assertDataError([dir + "/nope.gz", "no such file"]) { _ = try IDX.readImages(path: dir + "/nope.gz") }
    }

    func testInstalledFashionMNIST() throws {
        let dir = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: dir) else { throw XCTSkip("\(dir) is not installed") }
        let train = try IDX.loadFolder(dir, split: .train)
        let test = try IDX.loadFolder(dir, split: .test)
        XCTAssertEqual(train.count, 60000)
        XCTAssertEqual(test.count, 10000)
        for d in [train, test] {
            XCTAssertEqual(d.channels, 1)
            XCTAssertEqual(d.height, 28)
            XCTAssertEqual(d.width, 28)
            XCTAssertEqual(d.classes, 10)
        }
        var histogram = [Int](repeating: 0, count: 10)
        for l in train.labels! { histogram[Int(l)] += 1 }
        XCTAssertEqual(histogram, [Int](repeating: 6000, count: 10))
        var testHistogram = [Int](repeating: 0, count: 10)
        for l in test.labels! { testHistogram[Int(l)] += 1 }
        XCTAssertEqual(testHistogram, [Int](repeating: 1000, count: 10))

        // Mean and population std of pixel/255 over the whole train set, from a value histogram.
        var counts = [Int](repeating: 0, count: 256)
        train.pixels.withUnsafeBufferPointer { for v in $0 { counts[Int(v)] += 1 } }
        let n = Double(train.pixels.count)
        let mean = counts.enumerated().reduce(0.0) { $0 + Double($1.offset) / 255 * Double($1.element) } / n
        let variance = counts.enumerated().reduce(0.0) {
            let d = Double($1.offset) / 255 - mean
            return $0 + d * d * Double($1.element)
        } / n
        print(String(format: "Fashion-MNIST train: mean %.6f std %.6f", mean, variance.squareRoot()))
        XCTAssertEqual(Double(Normalization.fashionMNIST.mean[0]), mean, accuracy: 5e-5)
        XCTAssertEqual(Double(Normalization.fashionMNIST.std[0]), variance.squareRoot(), accuracy: 5e-5)
    }
}

final class TransformTests: XCTestCase {
    /// Every box is whole pixels inside the image and is either a draw consistent with scale and ratio
    /// (allowing the half-pixel rounding of width and height) or torchvision's centred fallback.
    func testCropBoxesStayInsideAndWithinScaleAndRatio() {
        var rng = RNG(seed: 21)
        var draws = 0
        var reachesEdges = (left: false, right: false, top: false, bottom: false)
        for (h, w) in [(28, 28), (224, 224), (37, 100), (100, 37), (5, 5)] {
            for scale in [0.08...1.0, 0.67...1.0, 0.3...0.3] {
                let ratio = 0.75...(4.0 / 3.0)
                for _ in 0..<500 {
                    let b = Transforms.randomResizedCropBox(height: h, width: w, scale: scale, ratio: ratio, rng: &rng)
                    for v in [b.x, b.y, b.width, b.height] { XCTAssertEqual(v, v.rounded()) }
                    XCTAssertGreaterThanOrEqual(b.x, 0)
                    XCTAssertGreaterThanOrEqual(b.y, 0)
                    XCTAssertGreaterThan(b.width, 0)
                    XCTAssertGreaterThan(b.height, 0)
                    XCTAssertLessThanOrEqual(b.x + b.width, Double(w))
                    XCTAssertLessThanOrEqual(b.y + b.height, Double(h))
                    let area = Double(h * w)
                    let areaLo = (b.width - 0.5) * (b.height - 0.5), areaHi = (b.width + 0.5) * (b.height + 0.5)
                    let ratioLo = (b.width - 0.5) / (b.height + 0.5), ratioHi = (b.width + 0.5) / (b.height - 0.5)
                    let consistent = areaHi >= scale.lowerBound * area - 1e-9 && areaLo <= scale.upperBound * area + 1e-9
                        && ratioHi >= ratio.lowerBound && ratioLo <= ratio.upperBound
                    let inRatio = Double(w) / Double(h)
                    let fw = inRatio > ratio.upperBound ? (Double(h) * ratio.upperBound).rounded() : Double(w)
                    let fh = inRatio < ratio.lowerBound ? (Double(w) / ratio.lowerBound).rounded() : Double(h)
                    let fallback = b == CropBox(x: ((Double(w) - fw) / 2).rounded(.down), y: ((Double(h) - fh) / 2).rounded(.down),
                                                width: fw, height: fh)
                    XCTAssertTrue(consistent || fallback, "box \(b) for \(h)×\(w), scale \(scale)")
                    if consistent { draws += 1 }
                    if h == 224 && scale.lowerBound < 0.1 {
                        reachesEdges.left = reachesEdges.left || b.x == 0
                        reachesEdges.top = reachesEdges.top || b.y == 0
                        reachesEdges.right = reachesEdges.right || (b.x > 0 && b.x + b.width == Double(w))
                        reachesEdges.bottom = reachesEdges.bottom || (b.y > 0 && b.y + b.height == Double(h))
                    }
                }
            }
        }
        XCTAssertGreaterThan(draws, 6000)
        XCTAssertTrue(reachesEdges == (true, true, true, true), "positions cover the image: \(reachesEdges)")
        // A wide strip where no draw fits: the centred crop at the largest allowed ratio, as torchvision.
        let b = Transforms.randomResizedCropBox(height: 10, width: 100, scale: 0.9...1.0, ratio: 0.75...(4.0 / 3.0), rng: &rng)
        XCTAssertEqual(b, CropBox(x: 43, y: 0, width: 13, height: 10))
        let tall = Transforms.randomResizedCropBox(height: 100, width: 10, scale: 0.9...1.0, ratio: 0.75...(4.0 / 3.0), rng: &rng)
        XCTAssertEqual(tall, CropBox(x: 0, y: 43, width: 10, height: 13))
    }

    /// The positions torch's `F.interpolate(mode="bilinear", align_corners=False)` samples.
    func testBilinearMatchesTorchSamplePositions() {
        let id = Normalization(mean: [0], std: [1])
        // 1×2 row [0, 255] upsampled to 4 wide: torch gives [0, 0.25, 0.75, 1] on every row.
        let up = ImageDataset(count: 1, channels: 1, height: 1, width: 2, pixels: [0, 255], source: "t")
        let u = Transforms.resizedCrop(up, index: 0, box: .full(height: 1, width: 2), size: 4, flip: false,
                                       outChannels: 1, normalization: id)
        for r in 0..<4 { XCTAssertEqual(Array(u[r * 4..<r * 4 + 4]), [0, 0.25, 0.75, 1]) }
        // 4×4 down to 2×2 averages 2×2 blocks exactly (samples fall midway between pixels).
        let px: [UInt8] = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150]
        let down = ImageDataset(count: 1, channels: 1, height: 4, width: 4, pixels: px, source: "t")
        let d = Transforms.resizedCrop(down, index: 0, box: .full(height: 4, width: 4), size: 2, flip: false,
                                       outChannels: 1, normalization: id)
        let expected: [Float] = [25, 45, 105, 125].map { $0 / 255 }
        for (a, b) in zip(d, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        // A crop is resampled on its own pixels: box (1, 2, 2×2) at size 2 is those four pixels.
        let c = Transforms.resizedCrop(down, index: 0, box: CropBox(x: 1, y: 2, width: 2, height: 2), size: 2,
                                       flip: false, outChannels: 1, normalization: id)
        XCTAssertEqual(c, ([90, 100, 130, 140] as [Float]).map { $0 / 255 })
    }

    func testFlipIsAnExactMirror() {
        let data = randomGray(count: 1, height: 23, width: 31, classes: 1, seed: 8)
        let mirrored = ImageDataset(count: 1, channels: 1, height: 23, width: 31,
                                    pixels: (0..<23 * 31).map { data.pixels[($0 / 31) * 31 + 30 - $0 % 31] }, source: "m")
        var rng = RNG(seed: 4)
        let n = Normalization.fashionMNIST
        for size in [16, 23, 40] {
            for _ in 0..<20 {
                let box = Transforms.randomResizedCropBox(height: 23, width: 31, scale: 0.2...1, ratio: 0.5...2, rng: &rng)
                let plain = Transforms.resizedCrop(data, index: 0, box: box, size: size, flip: false, outChannels: 1, normalization: n)
                let flipped = Transforms.resizedCrop(data, index: 0, box: box, size: size, flip: true, outChannels: 1, normalization: n)
                for y in 0..<size { for x in 0..<size {
                    XCTAssertEqual(flipped[y * size + x], plain[y * size + size - 1 - x])
                } }
                // Flipping the crop of the mirrored image gives back the original crop.
                let mbox = CropBox(x: 31 - box.x - box.width, y: box.y, width: box.width, height: box.height)
                let twice = Transforms.resizedCrop(mirrored, index: 0, box: mbox, size: size, flip: true, outChannels: 1, normalization: n)
                for (a, b) in zip(twice, plain) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            }
        }
        // When the crop is not resampled (box side = output size) the double flip is bit-exact.
        let box = CropBox(x: 3, y: 0, width: 23, height: 23), mbox = CropBox(x: 5, y: 0, width: 23, height: 23)
        XCTAssertEqual(Transforms.resizedCrop(mirrored, index: 0, box: mbox, size: 23, flip: true, outChannels: 1, normalization: n),
                       Transforms.resizedCrop(data, index: 0, box: box, size: 23, flip: false, outChannels: 1, normalization: n))
    }

    /// Flip-only augmentation: each image comes out either as itself or as its mirror, both happen,
    /// and the batch records which with the same draws each time.
    func testFlipOnlyAugmentationMirrorsAboutHalfTheImages() {
        let data = randomGray(count: 40, height: 12, width: 12, classes: 2, seed: 17)
        let norm = Normalization(mean: [0], std: [1])
        var rng = RNG(seed: 5)
        let out = Tensor(shape: [1])
        makeBatch(data, indices: Array(0..<40), size: 12, outChannels: 1,
                  augment: AugmentConfig(randomResizedCrop: false, horizontalFlip: true),
                  normalization: norm, rng: &rng, into: out, compute: .serial)
        var flipped = 0
        for i in 0..<40 {
            let got = (0..<144).map { out[i * 144 + $0] }
            let plain = (0..<144).map { Float(data.pixels[i * 144 + $0]) / 255 }
            let mirror = (0..<144).map { Float(data.pixels[i * 144 + ($0 / 12) * 12 + 11 - $0 % 12]) / 255 }
            XCTAssertTrue(got == plain || got == mirror, "image \(i) is neither itself nor its mirror")
            if got == mirror { flipped += 1 }
        }
        XCTAssertTrue((8...32).contains(flipped), "\(flipped) of 40 flipped")
    }

    func testIdentityCropReproducesPixelsAndNormalizationInverts() {
        let data = randomGray(count: 4, height: 28, width: 28, classes: 2, seed: 13)
        var rng = RNG(seed: 1)
        let out = Tensor(shape: [1])
        for norm in [Normalization.fashionMNIST, Normalization(mean: [0.1], std: [0.7])] {
            makeBatch(data, indices: [3, 0, 2], size: 28, outChannels: 1, augment: nil, normalization: norm, rng: &rng, into: out, compute: .serial)
            XCTAssertEqual(out.shape, [3, 1, 28, 28])
            let raw = out.clone()
            norm.denormalize(out)
            for (b, i) in [3, 0, 2].enumerated() {
                for j in 0..<784 {
                    let v = out[b * 784 + j]
                    XCTAssertEqual(v, Float(data.pixels[i * 784 + j]) / 255, accuracy: 1e-6)
                    XCTAssertEqual(UInt8((v * 255).rounded()), data.pixels[i * 784 + j])
                    XCTAssertEqual(norm.normalize(norm.denormalize(raw[b * 784 + j], channel: 0), channel: 0),
                                   raw[b * 784 + j], accuracy: 1e-5)
                }
            }
        }
        XCTAssertEqual(rng, RNG(seed: 1), "no augmentation draws nothing")
        // Resizing without augmentation keeps the range and the shape.
        makeBatch(data, indices: [0, 1], size: 32, outChannels: 1, augment: nil,
                  normalization: Normalization(mean: [0], std: [1]), rng: &rng, into: out, compute: .serial)
        XCTAssertEqual(out.shape, [2, 1, 32, 32])
        XCTAssertTrue(out.array.allSatisfy { $0 >= 0 && $0 <= 1 })
    }

    func testGrayReplicatesToThreeChannels() {
        let data = randomGray(count: 3, height: 20, width: 20, classes: 3, seed: 2)
        for norm in [Normalization.fashionMNIST, Normalization.imagenet] {
            var rng = RNG(seed: 6)
            let out = Tensor(shape: [1])
            makeBatch(data, indices: [0, 1, 2], size: 24, outChannels: 3, augment: AugmentConfig(),
                      normalization: norm, rng: &rng, into: out, compute: .serial)
            XCTAssertEqual(out.shape, [3, 3, 24, 24])
            norm.denormalize(out)
            let plane = 24 * 24
            for b in 0..<3 { for j in 0..<plane {
                let g = out[(b * 3) * plane + j]
                XCTAssertEqual(out[(b * 3 + 1) * plane + j], g, accuracy: 1e-6)
                XCTAssertEqual(out[(b * 3 + 2) * plane + j], g, accuracy: 1e-6)
            } }
        }
    }

    func testBatchesAreDeterministicForASeedAndThreadCount() {
        let data = SyntheticImages.make(count: 12, channels: 3, size: 20, classes: 4, seed: 3, compute: .serial)
        func batch(seed: UInt64, threads: Int = 1) -> [Float] {
            var rng = RNG(seed: seed)
            let out = Tensor(shape: [1])
            makeBatch(data, indices: Array(0..<12).reversed(), size: 16, outChannels: 3, augment: AugmentConfig(),
                      normalization: .imagenet, rng: &rng, into: out, compute: ComputeContext(threads: threads))
            XCTAssertEqual(out.shape, [12, 3, 16, 16])
            XCTAssertTrue(out.array.allSatisfy { $0.isFinite })
            return out.array
        }
        XCTAssertEqual(batch(seed: 1), batch(seed: 1))
        XCTAssertEqual(batch(seed: 1), batch(seed: 1, threads: 2))
        XCTAssertNotEqual(batch(seed: 1), batch(seed: 2))
    }

    func testSeededSubsetIsDeterministicNestedAndASubset() {
        // Image i stores its own index in its two pixels, so a subset tells which images it took.
        let n = 1000
        let data = ImageDataset(count: n, channels: 1, height: 1, width: 2,
                                pixels: (0..<n).flatMap { [UInt8($0 % 256), UInt8($0 / 256)] },
                                labels: (0..<n).map { Int32($0 % 7) }, classes: 7, source: "t")
        let a = data.seededSubset(100, seed: 9)
        XCTAssertEqual(a.count, 100)
        XCTAssertEqual(a.pixels, data.seededSubset(100, seed: 9).pixels)
        XCTAssertNotEqual(a.pixels, data.seededSubset(100, seed: 10).pixels)
        let taken = (0..<100).map { Int(a.pixels[2 * $0]) + 256 * Int(a.pixels[2 * $0 + 1]) }
        XCTAssertEqual(Set(taken).count, 100)
        XCTAssertTrue(taken.allSatisfy { $0 < n })
        XCTAssertEqual(a.labels!, taken.map { Int32($0 % 7) })
        XCTAssertEqual(a.classes, 7)
        XCTAssertNotEqual(taken, Array(taken.sorted()), "a shuffle, not the first 100")
        XCTAssertEqual(Array(data.seededSubset(300, seed: 9).pixels.prefix(200)), a.pixels)
        XCTAssertEqual(data.seededSubset(5000, seed: 9).count, n)
    }

    func testAugmentConfigDecodesMissingKeysAsDefaultsAndValidates() throws {
        let c = try JSONDecoder().decode(AugmentConfig.self, from: Data(#"{"horizontalFlip": false}"#.utf8))
        XCTAssertEqual(c, AugmentConfig(horizontalFlip: false))
        let back = try JSONDecoder().decode(AugmentConfig.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(back, c)
        XCTAssertNoThrow(try AugmentConfig().validate())
        assertDataError(["augment.scale"]) { try AugmentConfig(scale: [0.5, 1.5]).validate() }
        assertDataError(["augment.ratio"]) { try AugmentConfig(ratio: [2]).validate() }
    }
}

final class SyntheticTests: XCTestCase {
    func testDeterministicForASeed() {
        let a = SyntheticImages.make(count: 20, channels: 3, size: 16, classes: 5, seed: 7, compute: .serial)
        let b = SyntheticImages.make(count: 20, channels: 3, size: 16, classes: 5, seed: 7, compute: ComputeContext(threads: 2))
        XCTAssertEqual(a.pixels, b.pixels)
        XCTAssertEqual(a.labels, b.labels)
        XCTAssertNotEqual(a.pixels, SyntheticImages.make(count: 20, channels: 3, size: 16, classes: 5, seed: 8, compute: .serial).pixels)
        XCTAssertEqual(a.labels!, (0..<20).map { Int32($0 % 5) })
        XCTAssertEqual(a.classes, 5)
        XCTAssertEqual(a.source, "synthetic")
        XCTAssertTrue(Set(a.pixels).count > 100, "images use the pixel range")
    }

    /// Class mean images differ: means from one half of each class match their own class's other half
    /// best, and a nearest-class-mean rule labels unseen single images far above chance.
    func testClassesDifferInMeanImage() {
        let classes = 10, perClass = 100, size = 16, px = size * size
        let d = SyntheticImages.make(count: classes * perClass, channels: 1, size: size, classes: classes, seed: 1, compute: .serial)
        func image(_ i: Int) -> [Double] { (0..<px).map { Double(d.pixels[i * px + $0]) } }
        func isFirstHalf(_ i: Int) -> Bool { (i / classes) % 2 == 0 }
        func mean(_ k: Int, firstHalf: Bool) -> [Double] {
            var m = [Double](repeating: 0, count: px), n = 0.0
            for i in 0..<d.count where Int(d.labels![i]) == k && isFirstHalf(i) == firstHalf {
                for j in 0..<px { m[j] += Double(d.pixels[i * px + j]) }
                n += 1
            }
            return m.map { $0 / n }
        }
        func distance(_ a: [Double], _ b: [Double]) -> Double {
            (zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(px)).squareRoot()
        }
        let first = (0..<classes).map { mean($0, firstHalf: true) }
        let second = (0..<classes).map { mean($0, firstHalf: false) }
        for k in 0..<classes {
            let own = distance(first[k], second[k])
            let nearestOther = (0..<classes).filter { $0 != k }.map { distance(first[k], second[$0]) }.min()!
            XCTAssertLessThan(own, nearestOther, "class \(k): its halves differ by \(own), nearest other class \(nearestOther)")
        }
        var correct = 0, tested = 0
        for i in 0..<d.count where !isFirstHalf(i) {
            let x = image(i)
            let guess = (0..<classes).min { distance(x, first[$0]) < distance(x, first[$1]) }!
            if guess == Int(d.labels![i]) { correct += 1 }
            tested += 1
        }
        let accuracy = Double(correct) / Double(tested)
        print("synthetic: nearest-class-mean accuracy \(accuracy) on \(tested) held-out images")
        XCTAssertGreaterThan(accuracy, 0.7)
    }
}

final class SeededSplitTests: XCTestCase {
    /// seededSplit's first part is seededSubset's, the second the images right after it in the same
    /// shuffle: disjoint, and nested like the subset.
    func testSplitIsTheSubsetAndTheNextImages() {
        let n = 50
        let data = ImageDataset(count: n, channels: 1, height: 1, width: 1, pixels: (0..<n).map { UInt8($0) },
                                labels: (0..<n).map { Int32($0 % 3) }, classes: 3, source: "t")
        let (a, b) = data.seededSplit(first: 20, next: 10, seed: 7)
        XCTAssertEqual(a.pixels, data.seededSubset(20, seed: 7).pixels)
        XCTAssertEqual(Array(data.seededSubset(30, seed: 7).pixels.suffix(10)), b.pixels)
        XCTAssertTrue(Set(a.pixels).isDisjoint(with: b.pixels))
        XCTAssertEqual(b.labels!, b.pixels.map { Int32($0) % 3 })
        XCTAssertEqual(data.seededSplit(first: 40, next: 10, seed: 7).next.count, 10)
        XCTAssertEqual(Set(data.seededSplit(first: 40, next: 10, seed: 7).first.pixels).union(data.seededSplit(first: 40, next: 10, seed: 7).next.pixels).count, 50)
    }
}
