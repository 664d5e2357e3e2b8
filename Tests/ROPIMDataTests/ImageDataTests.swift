// Real image data: JPEG/PNG files through ImageFolder, CIFAR binaries, the packed cache, every bad-input
// path and --skip-bad; bicubic/eval resampling, ColorJitter, RandAugment, RandomErasing; the loader's
// epoch coverage, determinism across thread counts, and resume from a saved position.

import Foundation
import XCTest
@testable import ROPIMKernels
@testable import ROPIMData

/// A smooth colour image (JPEG-friendly), channel-first.
private func gradient(channels: Int, height: Int, width: Int, phase: Int = 0) -> UInt8Image {
    var px = [UInt8](repeating: 0, count: channels * height * width)
    for c in 0..<channels { for y in 0..<height { for x in 0..<width {
        px[(c * height + y) * width + x] = UInt8((40 + 8 * x + 5 * y + 30 * c + phase) % 256)
    } } }
    return UInt8Image(channels: channels, height: height, width: width, pixels: px)
}

private func noise(channels: Int, height: Int, width: Int, seed: UInt64) -> UInt8Image {
    var rng = RNG(seed: seed)
    return UInt8Image(channels: channels, height: height, width: width,
                      pixels: (0..<channels * height * width).map { _ in UInt8(rng.int(below: 256)) })
}

private func image(_ d: ImageDataset, _ i: Int) -> [UInt8] { Array(d.pixels[i * d.imageSize..<(i + 1) * d.imageSize]) }

final class ImageFormatTests: XCTestCase {
    /// Gray, RGB, RGBA and palette PNGs exact; RGB and gray JPEGs within tolerance; classes in sorted order.
    func testImageFolderReadsEveryKindWithLabelsInSortedClassOrder() throws {
        let root = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (h, w) = (12, 12)
        let rgb = noise(channels: 3, height: h, width: w, seed: 1)
        let gray = noise(channels: 1, height: h, width: w, seed: 2)
        let alpha = noise(channels: 1, height: h, width: w, seed: 3)
        let rgba = UInt8Image(channels: 4, height: h, width: w, pixels: rgb.pixels + alpha.pixels)
        let palette: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]
        let indices = UInt8Image(channels: 1, height: h, width: w, pixels: (0..<h * w).map { UInt8($0 % 4) })
        let smooth = gradient(channels: 3, height: h, width: w)
        let smoothGray = gradient(channels: 1, height: h, width: w, phase: 7)
        // Folder names out of order on purpose: "zebra" < "Ant"? No: uppercase sorts first (code points).
        writeBytes(try ImageCodec.encodePNG(gray), root + "/zebra/g.png")
        writeBytes(try ImageCodec.encodePNG(rgb), root + "/ant/rgb.PNG")
        writeBytes(try ImageCodec.encodePNG(rgba), root + "/ant/sub/rgba.png")
        writeBytes(try ImageCodec.encodePNG(indices, palette: palette), root + "/moth/pal.png")
        writeBytes(try ImageCodec.encodeJPEG(smooth, quality: 95), root + "/moth/photo.jpg")
        writeBytes(try ImageCodec.encodeJPEG(smoothGray, quality: 95), root + "/zebra/gray.jpeg")
        writeBytes(Array("not an image".utf8), root + "/moth/notes.txt")   // ignored: not an image name

        let scan = try ImageFolder.scan(root)
        XCTAssertEqual(scan.classNames, ["ant", "moth", "zebra"])
        XCTAssertEqual(scan.files.map { ($0 as NSString).lastPathComponent }, ["rgb.PNG", "rgba.png", "pal.png", "photo.jpg", "g.png", "gray.jpeg"])
        XCTAssertEqual(scan.labels, [0, 0, 1, 1, 2, 2])
        let (d, report) = try ImageFolder.decodeAll(scan, size: 12, channels: 3)
        XCTAssertTrue(report.isEmpty)
        XCTAssertEqual(d.count, 6)
        XCTAssertEqual(d.labels, [0, 0, 1, 1, 2, 2])
        XCTAssertEqual(d.classNames, ["ant", "moth", "zebra"])
        XCTAssertEqual(image(d, 0), rgb.pixels)
        XCTAssertEqual(image(d, 1), rgb.pixels, "alpha is dropped, colour kept")
        let expectPalette = (0..<3).flatMap { c in indices.pixels.map { palette[Int($0) * 3 + c] } }
        XCTAssertEqual(image(d, 2), expectPalette)
        let jpegDiff = zip(image(d, 3), smooth.pixels).map { abs(Int($0) - Int($1)) }
        XCTAssertLessThanOrEqual(jpegDiff.max()!, 12)
        XCTAssertLessThan(Double(jpegDiff.reduce(0, +)) / Double(jpegDiff.count), 3)
        XCTAssertEqual(image(d, 4), gray.pixels + gray.pixels + gray.pixels, "gray replicated to RGB")
        let grayJPEG = image(d, 5)
        XCTAssertEqual(Array(grayJPEG[0..<144]), Array(grayJPEG[144..<288]))
        XCTAssertLessThanOrEqual(zip(grayJPEG[0..<144], smoothGray.pixels).map { abs(Int($0) - Int($1)) }.max()!, 6)

        // One channel: gray PNG exact.
        let g1 = try ImageCodec.decode(file: root + "/zebra/g.png", channels: 1)
        XCTAssertEqual(g1.pixels, gray.pixels)
        let dir = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try ImageFolder.writeClasses(d.classNames!, to: dir + "/classes.txt")
        XCTAssertEqual(try String(contentsOfFile: dir + "/classes.txt", encoding: .utf8), "ant\nmoth\nzebra\n")
    }

    func testStoredSizeIsShorterSideThenCentreCrop() throws {
        // 8 rows × 16 columns: 0 at the sides, 200 in columns 2..<14. The centre 8×8 (and the pixel each side
        // that the antialiasing filter reaches) is 200; a straight resize would mix in the zeros.
        let px = (0..<8 * 16).map { k -> UInt8 in (2..<14).contains(k % 16) ? 200 : 0 }
        let root = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: root) }
        writeBytes(try ImageCodec.encodePNG(UInt8Image(channels: 1, height: 8, width: 16, pixels: px)), root + "/a.png")
        let (d, _) = try ImageFolder.load(root, size: 4, channels: 1)
        XCTAssertNil(d.labels, "image files at the top: a flat, unlabelled folder")
        XCTAssertEqual(d.pixels, [UInt8](repeating: 200, count: 16))
        // A straight 2× shrink of a constant image stays constant; a mirrored image gives a mirrored result.
        let ramp = UInt8Image(channels: 1, height: 6, width: 6, pixels: (0..<36).map { UInt8(($0 % 6) * 40) })
        let small = Resample.shorterSideCenterCrop(ramp, size: 3)
        for y in 0..<3 {
            let row = Array(small.pixels[y * 3..<y * 3 + 3])
            XCTAssertTrue(row[0] < row[1] && row[1] < row[2], "\(row)")
            XCTAssertEqual(Int(row[0]) + Int(row[2]), 200, accuracy: 1, "symmetric about the centre: \(row)")
        }
    }

    func testFlatFolderAnyDepthSplitsAndHoldOut() throws {
        let root = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (k, p) in ["train/a/x.png", "train/b/deep/er/y.png", "train/b/z.png", "val/a/v.png", "val/b/w.png"].enumerated() {
            writeBytes(try ImageCodec.encodePNG(gradient(channels: 1, height: 4, width: 4, phase: k)), root + "/" + p)
        }
        let train = try ImageFolder.load(root, split: "train", size: 4, channels: 1).dataset
        XCTAssertEqual(train.labels, [0, 1, 1])
        let val = try ImageFolder.load(root, split: "val", size: 4, channels: 1).dataset
        XCTAssertEqual(val.labels, [0, 1])
        let flat = try ImageFolder.scan(root + "/train", layout: .flat)
        XCTAssertNil(flat.labels)
        XCTAssertEqual(flat.files.count, 3)
        assertDataError([root + "/train", "no test folder"]) { _ = try ImageFolder.splitRoot(root + "/train", split: "test") }

        let big = SyntheticImages.make(count: 50, channels: 1, size: 4, classes: 5, seed: 1, compute: .serial)
        let (a, b) = big.holdOut(fraction: 0.2, seed: 9)
        XCTAssertEqual(a.count, 40); XCTAssertEqual(b.count, 10)
        let (a2, b2) = big.holdOut(fraction: 0.2, seed: 9)
        XCTAssertEqual(a.pixels, a2.pixels); XCTAssertEqual(b.pixels, b2.pixels)
        XCTAssertNotEqual(big.holdOut(fraction: 0.2, seed: 10).val.pixels, b.pixels)
    }

    func testCIFAR10And100() throws {
        let dir = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = RNG(seed: 5)
        var all = [UInt8](), labels10 = [Int32]()
        let bin = dir + "/cifar-10-batches-bin"
        for f in CIFAR.trainFiles10 + ["test_batch.bin"] {
            let px = (0..<2 * 3072).map { _ in UInt8(rng.int(below: 256)) }
            let l = [UInt8(rng.int(below: 10)), UInt8(rng.int(below: 10))]
            writeBytes(CIFAR.encode(pixels: px, labels: l.map { [$0] }), bin + "/" + f)
            if f != "test_batch.bin" { all += px; labels10 += l.map { Int32($0) } }
        }
        writeBytes(Array("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n".utf8), bin + "/batches.meta.txt")
        XCTAssertEqual(CIFAR.detect(dir), 10)
        let d = try CIFAR.load10(dir)
        XCTAssertEqual(d.count, 10); XCTAssertEqual(d.channels, 3); XCTAssertEqual(d.height, 32)
        XCTAssertEqual(d.pixels, all); XCTAssertEqual(d.labels, labels10)
        XCTAssertEqual(d.classNames?[9], "truck")
        XCTAssertEqual(try CIFAR.load10(dir, split: "test").count, 2)

        let px = (0..<3 * 3072).map { _ in UInt8(rng.int(below: 256)) }
        writeBytes(CIFAR.encode(pixels: px, labels: [[3, 71], [19, 99], [0, 5]]), dir + "/c100/train.bin")
        XCTAssertEqual(CIFAR.detect(dir + "/c100"), 100)
        let fine = try CIFAR.load100(dir + "/c100")
        XCTAssertEqual(fine.labels, [71, 99, 5]); XCTAssertEqual(fine.classes, 100); XCTAssertEqual(fine.pixels, px)
        let coarse = try CIFAR.load100(dir + "/c100", labels: .coarse)
        XCTAssertEqual(coarse.labels, [3, 19, 0]); XCTAssertEqual(coarse.classes, 20)
    }

    func testPackedCacheMatchesDecodedFolderAndRebuildsWhenStale() throws {
        let root = scratchFolder("img"), out = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: root); try? FileManager.default.removeItem(atPath: out) }
        for k in 0..<5 {
            writeBytes(try ImageCodec.encodePNG(noise(channels: 3, height: 10, width: 14, seed: UInt64(k))), root + "/c\(k % 2)/\(k).png")
        }
        let scan = try ImageFolder.scan(root)
        let (mem, _) = try ImageFolder.decodeAll(scan, size: 8, channels: 3)
        let path = out + "/cache.pack"
        let first = try PackedCache.prepare(scan, size: 8, channels: 3, path: path, threads: 2), cache = first.cache
        XCTAssertTrue(first.built)
        XCTAssertEqual(cache.count, 5)
        XCTAssertEqual(cache.meta.classNames, ["c0", "c1"])
        for i in 0..<5 {
            XCTAssertEqual(try cache.withImage(i) { Array(UnsafeBufferPointer(start: $0.pixels, count: 3 * 64)) }, image(mem, i))
            XCTAssertEqual(cache.label(i), mem.labels![i])
        }
        XCTAssertFalse(try PackedCache.prepare(scan, size: 8, channels: 3, path: path).built, "reused")
        writeBytes(try ImageCodec.encodePNG(noise(channels: 3, height: 9, width: 9, seed: 9)), root + "/c1/new.png")
        let rescan = try ImageFolder.scan(root)
        let again = try PackedCache.prepare(rescan, size: 8, channels: 3, path: path)
        XCTAssertTrue(again.built, "a changed folder rebuilds the cache")
        XCTAssertEqual(again.cache.count, 6)
        // A truncated cache is an error that says to delete it.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: path))
        assertDataError([path, "delete it to rebuild"]) { _ = try PackedCache(path: path) }
    }
}

final class BadInputTests: XCTestCase {
    func testCorruptFilesGiveErrorsNamingTheFile() throws {
        let dir = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let jpeg = try ImageCodec.encodeJPEG(noise(channels: 3, height: 64, width: 64, seed: 1), quality: 90)
        writeBytes(Array(jpeg.prefix(jpeg.count * 3 / 4)), dir + "/cut.jpg")
        assertDataError([dir + "/cut.jpg", "corrupt JPEG", "truncated", "--skip-bad"]) {
            _ = try ImageCodec.decode(file: dir + "/cut.jpg", channels: 3)
        }
        var garbled = jpeg
        for k in jpeg.count / 2..<jpeg.count / 2 + 64 { garbled[k] = UInt8(k % 7 == 0 ? 0xFF : k % 251) }
        writeBytes(garbled, dir + "/garbled.jpg")
        assertDataError([dir + "/garbled.jpg", "corrupt JPEG"]) { _ = try ImageCodec.decode(file: dir + "/garbled.jpg", channels: 3) }

        let png = try ImageCodec.encodePNG(noise(channels: 3, height: 8, width: 8, seed: 1))
        writeBytes(Array(png.prefix(png.count - 30)), dir + "/cut.png")
        assertDataError([dir + "/cut.png", "corrupt PNG"]) { _ = try ImageCodec.decode(file: dir + "/cut.png", channels: 3) }
        var flipped = png
        flipped[png.count - 20] ^= 0x55   // inside the data: the CRC no longer matches
        writeBytes(flipped, dir + "/crc.png")
        assertDataError([dir + "/crc.png", "corrupt PNG"]) { _ = try ImageCodec.decode(file: dir + "/crc.png", channels: 3) }

        // A PNG named .jpg decodes by its magic bytes; a GIF named .jpg and an empty file do not.
        writeBytes(png, dir + "/really-png.jpg")
        XCTAssertEqual(try ImageCodec.decode(file: dir + "/really-png.jpg", channels: 3).pixels,
                       try ImageCodec.decode(png.withUnsafeBytes { Array($0) }.withUnsafeBytes { $0 }, path: "x", channels: 3).pixels)
        writeBytes(Array("GIF89a......".utf8), dir + "/gif.jpg")
        assertDataError([dir + "/gif.jpg", "not a JPEG or PNG", "GIF"]) { _ = try ImageCodec.decode(file: dir + "/gif.jpg", channels: 3) }
        writeBytes([], dir + "/empty.png")
        assertDataError([dir + "/empty.png", "empty"]) { _ = try ImageCodec.decode(file: dir + "/empty.png", channels: 3) }

        // A 16-bit grey PNG reads as PIL reads it ("I;16"), and converts as PIL's convert("L"): clipped at 255.
        writeBytes(try ImageCodec.encodePNG16(gray: [0, 1, 254, 255, 256, 4000, 40000, 65535], height: 2, width: 4), dir + "/deep.png")
        XCTAssertEqual(try ImageCodec.decode(file: dir + "/deep.png", channels: 1).pixels, [0, 1, 254, 255, 255, 255, 255, 255])
    }

    func testFolderProblemsAndSkipBadCounting() throws {
        let root = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: root) }
        assertDataError([root, "no images found"]) { _ = try ImageFolder.scan(root) }
        assertDataError([root + "/missing", "does not exist"]) { _ = try ImageFolder.scan(root + "/missing") }
        let good = try ImageCodec.encodePNG(noise(channels: 3, height: 6, width: 6, seed: 4))
        writeBytes(good, root + "/a/1.png"); writeBytes(good, root + "/c/2.png"); writeBytes(good, root + "/c/4.png")
        try FileManager.default.createDirectory(atPath: root + "/b", withIntermediateDirectories: true)
        assertDataError([root + "/b", "class folder 'b' (class 1)", "--skip-bad"]) { _ = try ImageFolder.scan(root) }
        writeBytes(Array(good.prefix(40)), root + "/c/3.png")
        writeBytes(Array("<html>".utf8), root + "/a/0.jpg")
        // Without --skip-bad: the empty folder stops the scan; with an image there the first bad file stops the decode.
        writeBytes(good, root + "/b/x.png")
        assertDataError([root + "/a/0.jpg", "not a JPEG or PNG", "and 1 more bad file"]) {
            _ = try ImageFolder.load(root, size: 6, channels: 3)
        }
        try FileManager.default.removeItem(atPath: root + "/b/x.png")
        let (d, report) = try ImageFolder.load(root, size: 6, channels: 3, skipBad: true)
        XCTAssertEqual(d.count, 3)
        XCTAssertEqual(d.labels, [0, 2, 2], "skipped files and the empty class shift no label")
        XCTAssertEqual(d.classNames, ["a", "b", "c"])
        XCTAssertEqual(report.skipped.count, 3)
        XCTAssertEqual(Set(report.skipped.map(\.path)), [root + "/b", root + "/a/0.jpg", root + "/c/3.png"])
        XCTAssertTrue(report.summary().contains("skipped 3 bad files"))
        // Image files beside class folders: ambiguous labels.
        writeBytes(good, root + "/stray.png")
        assertDataError([root, "beside class folders", "flat"]) { _ = try ImageFolder.scan(root, skipBad: true) }
    }

    func testCIFARWrongSizeBadLabelAndMissingFiles() throws {
        let dir = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        assertDataError([dir, "data_batch_1.bin"]) { _ = try CIFAR.load10(dir) }
        let rec = CIFAR.encode(pixels: [UInt8](repeating: 1, count: 3072), labels: [[2]])
        writeBytes(rec + rec.prefix(100), dir + "/data_batch_1.bin")
        assertDataError([dir, "data_batch_2.bin", "missing"]) { _ = try CIFAR.load10(dir) }
        for k in 2...5 { writeBytes(rec, dir + "/data_batch_\(k).bin") }
        assertDataError([dir + "/data_batch_1.bin", "3173 bytes", "3073-byte CIFAR-10 records"]) { _ = try CIFAR.load10(dir) }
        writeBytes(CIFAR.encode(pixels: [UInt8](repeating: 1, count: 3072), labels: [[12]]), dir + "/data_batch_1.bin")
        assertDataError([dir + "/data_batch_1.bin", "label 12", "0…9"]) { _ = try CIFAR.load10(dir) }
        // A CIFAR-100 file read as CIFAR-10 says which it is.
        writeBytes(CIFAR.encode(pixels: [UInt8](repeating: 1, count: 3 * 3072), labels: [[1, 2], [1, 2], [1, 2]]), dir + "/data_batch_1.bin")
        assertDataError(["3074-byte CIFAR-100 records"]) { _ = try CIFAR.load10(dir) }
        // An empty file is called empty, not "divides into CIFAR-100 records" (fault-21).
        writeBytes([], dir + "/data_batch_1.bin")
        assertDataError([dir + "/data_batch_1.bin", "the file is empty (0 bytes)", "re-download"]) { _ = try CIFAR.load10(dir) }
    }

    func testLoaderSkipsBadFilesDecodedOnTheFly() throws {
        let root = scratchFolder("img")
        defer { try? FileManager.default.removeItem(atPath: root) }
        for k in 0..<6 { writeBytes(try ImageCodec.encodePNG(noise(channels: 3, height: 8, width: 8, seed: UInt64(k))), root + "/c/\(k).png") }
        writeBytes(Array("junk".utf8), root + "/c/9.png")
        let files = ImageFolderFiles(try ImageFolder.scan(root), channels: 3)
        let t = try SampleTransform(size: 8, outChannels: 3, normalization: .imagenet, augment: nil)
        let strict = try DataLoader(source: files, batchSize: 7, transform: t, seed: 1, compute: .serial)
        assertDataError([root + "/c/9.png", "not a JPEG or PNG"]) { _ = try strict.next() }
        for threads in [0, 2] {
            let loader = try DataLoader(source: files, batchSize: 7, transform: t, seed: 1, threads: threads, skipBad: true, compute: .serial)
            let b = try loader.next()
            XCTAssertEqual(b.images.shape, [7, 3, 8, 8])
            XCTAssertFalse(b.indices.contains(6), "the bad file's slot holds another image")
            _ = try loader.next()
            XCTAssertEqual(loader.skipped.skipped.map(\.path), [root + "/c/9.png"], "reported once")
        }
    }
}

final class AugmentTests: XCTestCase {
    func testBicubicAndEvalResamplingKeepConstantsAndIdentity() throws {
        let img = noise(channels: 3, height: 9, width: 9, seed: 3)
        let constant = UInt8Image(channels: 1, height: 7, width: 11, pixels: [UInt8](repeating: 77, count: 77))
        for (interp, aa) in [(Interpolation.bicubic, false), (.bicubic, true), (.bilinear, true)] {
            var out = [Float](repeating: 0, count: 25)
            constant.pixels.withUnsafeBufferPointer { p in
                Resample.resample(p.baseAddress!, channels: 1, height: 7, width: 11, box: CropBox(x: 1, y: 0, width: 9, height: 7),
                                  outHeight: 5, outWidth: 5, interpolation: interp, antialias: aa, flip: false, into: &out)
            }
            for v in out { XCTAssertEqual(v, 77, accuracy: 1e-3) }
        }
        var same = [Float](repeating: 0, count: 243)
        img.pixels.withUnsafeBufferPointer { p in
            Resample.resample(p.baseAddress!, channels: 3, height: 9, width: 9, box: .full(height: 9, width: 9), outHeight: 9,
                              outWidth: 9, interpolation: .bicubic, antialias: false, flip: false, into: &same)
        }
        XCTAssertEqual(same.map { UInt8($0.rounded()) }, img.pixels, "same size bicubic is the identity")
        let eval = try SampleTransform(size: 4, outChannels: 3, normalization: .imagenet, mode: .centerCrop(fraction: 0.875, interpolation: .bicubic))
        var out = [Float](repeating: 0, count: 48), rng = RNG(seed: 1)
        let before = rng
        img.pixels.withUnsafeBufferPointer { p in eval.apply(ImageView(pixels: p.baseAddress!, channels: 3, height: 9, width: 9), rng: &rng, into: &out) }
        XCTAssertEqual(rng, before, "evaluation draws nothing")
        XCTAssertTrue(out.allSatisfy { $0.isFinite && abs($0) < 3 })
    }

    func testRandAugmentSpecDeterminismAndOps() throws {
        let ra = try RandAugment(spec: "rand-m9-mstd0.5-inc1")
        XCTAssertEqual(ra.magnitude, 9); XCTAssertEqual(ra.magnitudeStd, 0.5); XCTAssertTrue(ra.increasing); XCTAssertEqual(ra.layers, 2)
        for bad in ["m9", "rand-x3", "rand-m"] { assertDataError([bad, "rand-m9-mstd0.5-inc1"]) { _ = try RandAugment(spec: bad) } }
        let img = noise(channels: 3, height: 16, width: 16, seed: 7)
        var seen = Set<RandAugment.Op>(), changed = 0
        for s in 0..<60 {
            var a = img, b = img
            var r1 = RNG(seed: UInt64(s)), r2 = RNG(seed: UInt64(s))
            let ops = ra.apply(&a, fill: [124, 116, 104], rng: &r1)
            ra.apply(&b, fill: [124, 116, 104], rng: &r2)
            XCTAssertEqual(a, b, "same seed, same result")
            XCTAssertEqual(r1, r2)
            seen.formUnion(ops)
            if a != img { changed += 1 }
        }
        XCTAssertGreaterThan(seen.count, 10)
        XCTAssertGreaterThan(changed, 30)
        // Single ops against their definitions.
        var inv = img
        PixelOps.lut(&inv, [(0..<256).map { UInt8(255 - $0) }]); PixelOps.lut(&inv, [(0..<256).map { UInt8(255 - $0) }])
        XCTAssertEqual(inv, img)
        var low = UInt8Image(channels: 1, height: 2, width: 2, pixels: [50, 60, 70, 100])
        PixelOps.autoContrast(&low)
        XCTAssertEqual(low.pixels, [0, 51, 102, 254], "PIL truncates 100·5.1 − 255 = 254.99… to 254 too")
        var shifted = UInt8Image(channels: 1, height: 1, width: 4, pixels: [10, 20, 30, 40])
        PixelOps.affine(&shifted, (1, 0, 1, 0, 1, 0), fill: [9])
        XCTAssertEqual(shifted.pixels, [20, 30, 40, 9], "translate by one pixel, fill the gap")
        var eq = UInt8Image(channels: 1, height: 1, width: 4, pixels: [0, 0, 100, 200])
        PixelOps.equalize(&eq)
        XCTAssertTrue(eq.pixels[0] <= eq.pixels[2] && eq.pixels[2] <= eq.pixels[3])
    }

    func testColorJitterBoundsAndDeterminism() throws {
        let jitter = try ColorJitter([0.4, 0, 0])
        for s in 0..<20 {
            var img = UInt8Image(channels: 3, height: 2, width: 2, pixels: [UInt8](repeating: 100, count: 12))
            var rng = RNG(seed: UInt64(s))
            jitter.apply(&img, rng: &rng)
            XCTAssertTrue(img.pixels.allSatisfy { (60...140).contains($0) }, "\(img.pixels)")
            XCTAssertEqual(Set(img.pixels).count, 1)
        }
        let full = try ColorJitter([0.4, 0.4, 0.4, 0.1])
        let img = noise(channels: 3, height: 8, width: 8, seed: 2)
        var a = img, b = img, r1 = RNG(seed: 5), r2 = RNG(seed: 5)
        full.apply(&a, rng: &r1); full.apply(&b, rng: &r2)
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, img)
        var hueZero = img
        PixelOps.hue(&hueZero, 0)
        XCTAssertLessThanOrEqual(zip(hueZero.pixels, img.pixels).map { abs(Int($0) - Int($1)) }.max()!, 1, "hue 0 round-trips")
        assertDataError(["color_jitter"]) { _ = try ColorJitter([0.4, 0.4]) }
    }

    func testRandomErasingBoxWithinBoundsAndOnlyInside() {
        let e = RandomErasing(prob: 1)
        var erased = 0
        for s in 0..<100 {
            var img = [Float](repeating: 5, count: 3 * 32 * 32)
            var rng = RNG(seed: UInt64(s))
            guard let box = e.apply(&img, channels: 3, height: 32, width: 32, rng: &rng) else { continue }
            erased += 1
            let area = box.width * box.height / 1024
            XCTAssertTrue(area >= 0.02 * 0.7 && area <= 1.0 / 3 * 1.3, "area \(area)")
            XCTAssertTrue(box.x >= 0 && box.y >= 0 && box.x + box.width <= 32 && box.y + box.height <= 32)
            for c in 0..<3 { for y in 0..<32 { for x in 0..<32 {
                let inside = Double(x) >= box.x && Double(x) < box.x + box.width && Double(y) >= box.y && Double(y) < box.y + box.height
                if !inside { XCTAssertEqual(img[(c * 32 + y) * 32 + x], 5) }
            } } }
            var again = [Float](repeating: 5, count: 3 * 32 * 32), r2 = RNG(seed: UInt64(s))
            e.apply(&again, channels: 3, height: 32, width: 32, rng: &r2)
            XCTAssertEqual(again, img)
        }
        XCTAssertGreaterThan(erased, 90)
        var img = [Float](repeating: 5, count: 16), rng = RNG(seed: 1)
        XCTAssertNil(RandomErasing(prob: 0).apply(&img, channels: 1, height: 4, width: 4, rng: &rng))
    }

    func testTrainTransformFlipIsExactAndAllAugmentsAreDeterministic() throws {
        let img = noise(channels: 3, height: 12, width: 12, seed: 8)
        let view = { (body: (ImageView) -> Void) in img.pixels.withUnsafeBufferPointer { body(ImageView(pixels: $0.baseAddress!, channels: 3, height: 12, width: 12)) } }
        let plain = try SampleTransform(size: 12, outChannels: 3, normalization: .imagenet,
                                        augment: AugmentConfig(randomResizedCrop: false, horizontalFlip: false))
        let flipping = try SampleTransform(size: 12, outChannels: 3, normalization: .imagenet,
                                           augment: AugmentConfig(randomResizedCrop: false, horizontalFlip: true, interpolation: .bicubic))
        var base = [Float](repeating: 0, count: 432), rng = RNG(seed: 0)
        view { plain.apply($0, rng: &rng, into: &base) }
        var flips = 0
        for s in 0..<10 {
            var out = [Float](repeating: 0, count: 432), r = RNG(seed: UInt64(s))
            view { flipping.apply($0, rng: &r, into: &out) }
            let mirrored = (0..<432).map { (k: Int) -> Float in let x = k % 12; return base[k - x + 11 - x] }
            if out == mirrored { flips += 1 } else { for (a, b) in zip(out, base) { XCTAssertEqual(a, b, accuracy: 1e-5) } }
        }
        XCTAssertTrue((1...9).contains(flips), "\(flips) of 10 flipped")
        let heavy = try SampleTransform(size: 8, outChannels: 3, normalization: .imagenet,
                                        augment: AugmentConfig(interpolation: .bicubic, randAugment: "rand-m9-mstd0.5-inc1", reprob: 0.5))
        var a = [Float](repeating: 0, count: 192), b = a, r1 = RNG(seed: 3), r2 = RNG(seed: 3)
        view { heavy.apply($0, rng: &r1, into: &a) }
        view { heavy.apply($0, rng: &r2, into: &b) }
        XCTAssertEqual(a, b)
        XCTAssertTrue(a.allSatisfy(\.isFinite))
    }
}

final class LoaderTests: XCTestCase {
    let data = SyntheticImages.make(count: 23, channels: 3, size: 8, classes: 4, seed: 2, compute: .serial)
    func transform() throws -> SampleTransform {
        try SampleTransform(size: 6, outChannels: 3, normalization: .imagenet, augment: AugmentConfig(colorJitter: [0.4], reprob: 0.5))
    }

    func testEverySampleOncePerEpochAndEpochsDiffer() throws {
        let loader = try DataLoader(source: data, batchSize: 5, transform: try transform(), seed: 4, dropLast: false, compute: .serial)
        XCTAssertEqual(loader.batchesPerEpoch, 5)
        var epochs = [[Int]]()
        for _ in 0..<2 {
            var seen = [Int]()
            for _ in 0..<5 { let b = try loader.next(); seen += b.indices; XCTAssertEqual(b.labels, b.indices.map { data.labels![$0] }) }
            XCTAssertEqual(seen.sorted(), Array(0..<23))
            epochs.append(seen)
        }
        XCTAssertNotEqual(epochs[0], epochs[1])
        let dropping = try DataLoader(source: data, batchSize: 5, transform: try transform(), seed: 4, compute: .serial)
        XCTAssertEqual(dropping.batchesPerEpoch, 4)
        var seen = Set<Int>()
        for _ in 0..<4 { seen.formUnion(try dropping.next().indices) }
        XCTAssertEqual(seen.count, 20)
        XCTAssertEqual(dropping.position, LoaderPosition(seed: 4, epoch: 1, batch: 0))
    }

    func testSameSeedSameBatchesForAnyThreadCountAndResume() throws {
        func run(threads: Int, start: LoaderPosition? = nil, count: Int, compute: ComputeContext = .serial) throws -> [[Float]] {
            let l = try DataLoader(source: data, batchSize: 4, transform: try transform(), seed: 11, threads: threads,
                                   prefetch: 3, start: start, compute: compute)
            return try (0..<count).map { _ in try l.next().images.array }
        }
        let reference = try run(threads: 0, count: 12)   // 5 batches an epoch: crosses two epoch boundaries
        XCTAssertEqual(try run(threads: 0, count: 12, compute: ComputeContext(threads: 3)), reference)
        XCTAssertEqual(try run(threads: 1, count: 12), reference)
        XCTAssertEqual(try run(threads: 2, count: 12), reference)
        XCTAssertNotEqual(try DataLoader(source: data, batchSize: 4, transform: try transform(), seed: 12, compute: .serial).next().images.array, reference[0])
        // Save the position after 7 batches, restore it in a new loader: the remaining batches are identical.
        let first = try DataLoader(source: data, batchSize: 4, transform: try transform(), seed: 11, threads: 2, compute: .serial)
        for _ in 0..<7 { _ = try first.next() }
        let saved = try JSONEncoder().encode(first.position)
        let position = try JSONDecoder().decode(LoaderPosition.self, from: saved)
        XCTAssertEqual(position, LoaderPosition(seed: 11, epoch: 1, batch: 2))
        XCTAssertEqual(try run(threads: 2, start: position, count: 5), Array(reference[7..<12]))
        assertDataError(["seed 11", "9"]) {
            _ = try DataLoader(source: data, batchSize: 4, transform: try transform(), seed: 9, start: position, compute: .serial)
        }
    }
}
