// The data section of a config on real files: auto-detection of image folders and CIFAR, the packed
// cache, hold-out and --skip-bad through loadData, and a short training run on an image folder.

import Foundation
import XCTest
@testable import ROPIMData
@testable import ROPIMKernels
@testable import ROPIMTraining
import ROPIMFiles

final class DataWiringTests: XCTestCase {
    func tempDir() -> String {
        let d = NSTemporaryDirectory() + "ropim-wiring-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// 3 classes × 8 RGB PNG/JPEG images of 10×12 under root/train.
    func makeFolder(_ root: String) throws {
        let synthetic = SyntheticImages.make(count: 24, channels: 3, size: 12, classes: 3, seed: 1, compute: .serial)
        for i in 0..<24 {
            let img = UInt8Image(channels: 3, height: 12, width: 12, pixels: Array(synthetic.pixels[i * 432..<(i + 1) * 432]))
            let dir = root + "/train/class\(i % 3)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let bytes = i % 2 == 0 ? try ImageCodec.encodePNG(img) : try ImageCodec.encodeJPEG(img)
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/\(i).\(i % 2 == 0 ? "png" : "jpg")"))
        }
    }

    func tinyConfig(path: String) -> PretrainConfig {
        var c = PretrainConfig()
        c.model.imgSize = 8; c.model.patchSize = 2; c.model.inChans = 3
        c.model.embedDim = 16; c.model.depth = 1; c.model.numHeads = 2
        c.method.sketchSize = 4; c.method.maskPatchSize = 4
        c.data.dataset = .auto; c.data.path = path; c.data.normalization = .imagenet
        c.optim.batchSize = 4; c.optim.epochs = 1; c.optim.warmupEpochs = 0
        return c
    }

    func testImageFolderAutoDetectedCachedHeldOutAndTrained() throws {
        let root = tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeFolder(root)
        var c = tinyConfig(path: root)
        let mem = try c.loadData(compute: ComputeContext(threads: 2))
        XCTAssertEqual(mem.kind, .imagefolder)
        XCTAssertEqual(mem.source.count, 24)
        XCTAssertEqual(mem.classNames, ["class0", "class1", "class2"])
        XCTAssertEqual((mem.source as? ImageDataset)?.height, 8, "stored at model.img_size")

        c.data.cache = root + "/cache.pack"
        c.data.valFraction = 0.25
        let cached = try c.loadData(compute: ComputeContext(threads: 2))
        XCTAssertTrue(cached.builtCache)
        XCTAssertEqual(cached.source.count, 18)
        XCTAssertFalse(try c.loadData(compute: .serial).builtCache)
        // The cached, held-out images are the in-memory images at the same indices.
        let keep = selection(count: 24, c: c.data, seed: 0)!
        let memory = mem.source as! ImageDataset
        for k in [0, 7, 17] {
            let a = try cached.source.withImage(k) { Array(UnsafeBufferPointer(start: $0.pixels, count: 192)) }
            XCTAssertEqual(a, Array(memory.pixels[keep[k] * 192..<(keep[k] + 1) * 192]))
            XCTAssertEqual(cached.source.label(k), memory.labels![keep[k]])
        }
        c.optim.maxSteps = 3
        let trainer = try PretrainTrainer(config: c, dataset: cached.source, compute: .serial)
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let summary = try trainer.train(runDirectory: dir, progress: Progress())
        XCTAssertEqual(summary.steps, 3)
        XCTAssertTrue(summary.lastLoss.isFinite)
        let meta = try SafeTensors.read(summary.checkpoint).metadata
        let position = try JSONDecoder().decode(LoaderPosition.self, from: Data(meta["data_position"]!.utf8))
        XCTAssertEqual(position.epoch * trainer.loader.batchesPerEpoch + position.batch, 3)
    }

    func testCIFARAutoDetectionAndSkipBadThroughTheConfig() throws {
        let root = tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let rec = CIFAR.encode(pixels: [UInt8](repeating: 9, count: 2 * 3072), labels: [[1], [7]])
        for f in CIFAR.trainFiles10 { try Data(rec).write(to: URL(fileURLWithPath: root + "/" + f)) }
        var c = tinyConfig(path: root)
        let d = try c.loadData(compute: .serial)
        XCTAssertEqual(d.kind, .cifar10)
        XCTAssertEqual(d.source.count, 10)
        XCTAssertEqual(d.source.label(1), 7)

        let folder = tempDir()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try makeFolder(folder)
        try Data("broken".utf8).write(to: URL(fileURLWithPath: folder + "/train/class1/bad.jpg"))
        c = tinyConfig(path: folder)
        XCTAssertThrowsError(try c.loadData(compute: .serial)) { XCTAssert("\($0)".contains("bad.jpg") && "\($0)".contains("--skip-bad"), "\($0)") }
        c.data.skipBad = true
        let skipped = try c.loadData(compute: .serial)
        XCTAssertEqual(skipped.source.count, 24)
        XCTAssertEqual(skipped.report.skipped.map { ($0.path as NSString).lastPathComponent }, ["bad.jpg"])
        c.data.path = folder + "/nowhere"
        XCTAssertThrowsError(try c.loadData(compute: .serial)) { XCTAssert("\($0)".contains("does not exist"), "\($0)") }
    }
}
