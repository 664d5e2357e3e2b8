// `data.holdout` (`--holdout N`): linear probe, k-NN and fine-tuning evaluated on training images held out
// instead of the test split, for choosing settings without the test set (issue 17's sweep).

import XCTest
import Foundation
import ROPIMKernels
import ROPIMData
import ROPIMTraining
@testable import ROPIMDownstream

final class HoldoutTests: XCTestCase {
    /// Synthetic labelled images: every image differs (checked), so sets of pixel rows identify images.
    func config(count: Int, subset: Int, holdout: Int) -> DownstreamDataConfig {
        var d = DownstreamDataConfig()
        d.dataset = .synthetic; d.syntheticCount = count
        d.subset = subset; d.holdout = holdout
        return d
    }

    func images(_ d: ImageDataset) -> [[UInt8]] {
        (0..<d.count).map { Array(d.pixels[($0 * d.imageSize)..<(($0 + 1) * d.imageSize)]) }
    }

    /// The held-out images share none with the probe's training images, nor with the images a pre-training
    /// run of the same seed and --subset trained on (the probe's training part is exactly those), and
    /// they are training images, not test ones.
    func testHeldOutImagesAreDisjointFromTheProbeAndThePretrainingImages() throws {
        let vit = tinyViT(), seed = 4
        let (train, held) = try DownstreamData.load(config(count: 300, subset: 100, holdout: 50), channels: vit.inChans,
                                                    imgSize: vit.imgSize, seed: seed, compute: .serial)
        XCTAssertEqual([train.count, held.count], [100, 50])
        let trainSet = Set(images(train)), heldSet = Set(images(held))
        XCTAssertEqual(trainSet.count, 100); XCTAssertEqual(heldSet.count, 50)   // distinct images
        XCTAssertTrue(trainSet.isDisjoint(with: heldSet))

        var p = PretrainConfig()
        p.model = vit
        p.data.dataset = .synthetic; p.data.syntheticCount = 300; p.data.subset = 100
        p.run.seed = seed
        let pre = try p.loadDataset(compute: .serial)
        XCTAssertEqual(pre.pixels, train.pixels)                   // the same images, in the same order
        XCTAssertTrue(Set(images(pre)).isDisjoint(with: heldSet))

        // From the training split: every held-out image is one of the 300 training images; with labels.
        var all = config(count: 300, subset: 0, holdout: 0)
        let (full, test) = try DownstreamData.load(all, channels: vit.inChans, imgSize: vit.imgSize, seed: seed, compute: .serial)
        XCTAssertTrue(heldSet.isSubset(of: Set(images(full))))
        XCTAssertTrue(heldSet.isDisjoint(with: Set(images(test))))
        XCTAssertEqual(held.labels?.count, 50)
        // Another seed holds out other images.
        all.subset = 100; all.holdout = 50
        let other = try DownstreamData.load(all, channels: vit.inChans, imgSize: vit.imgSize, seed: seed + 1, compute: .serial).test
        XCTAssertNotEqual(other.pixels, held.pixels)
    }

    /// Without a subset the probe trains on every image but the held-out ones: together they are the split.
    func testWithoutSubsetTheRestTrains() throws {
        let vit = tinyViT()
        let (train, held) = try DownstreamData.load(config(count: 200, subset: 0, holdout: 30), channels: vit.inChans,
                                                    imgSize: vit.imgSize, seed: 1, compute: .serial)
        XCTAssertEqual([train.count, held.count], [170, 30])
        let full = try DownstreamData.load(config(count: 200, subset: 0, holdout: 0), channels: vit.inChans, imgSize: vit.imgSize,
                                           seed: 1, compute: .serial).train
        XCTAssertEqual(Set(images(train)).union(images(held)), Set(images(full)))
        XCTAssertTrue(Set(images(train)).isDisjoint(with: images(held)))
    }

    /// Too many images asked for, and a hold-out with a test subset, are errors that say what to change.
    func testHoldoutThatDoesNotFitIsAClearError() {
        let vit = tinyViT()
        func load(_ d: DownstreamDataConfig) throws -> Any {
            try DownstreamData.load(d, channels: vit.inChans, imgSize: vit.imgSize, seed: 0, compute: .serial)
        }
        assertThrows(try load(config(count: 100, subset: 0, holdout: 100)),
                     containing: "has 100 training images, too few to hold out 100 and keep at least one for training; lower data.holdout below 100")
        assertThrows(try load(config(count: 100, subset: 80, holdout: 30)),
                     containing: "data.holdout 30 with data.subset 80: synthetic")
        assertThrows(try load(config(count: 100, subset: 80, holdout: 30)), containing: "their sum must be at most 100")
        XCTAssertNoThrow(try load(config(count: 100, subset: 80, holdout: 20)))
        var d = config(count: 100, subset: 0, holdout: 10)
        d.testSubset = 5
        assertThrows(try d.validate(channels: 1), containing: "data.holdout 10 and data.test_subset 5 are both set")
        d.testSubset = 0; d.holdout = -1
        assertThrows(try d.validate(channels: 1), containing: "data.holdout must be in 0...1000000000")
    }

    /// The probe and k-NN evaluate on the held-out images and say so in their summaries.
    func testProbeAndKNNReportTheHeldOutEvaluation() throws {
        var c = FrozenFeaturesConfig()
        c.data = config(count: 300, subset: 200, holdout: 60)
        c.data.normalization = Normalization(mean: [0.5], std: [0.25])
        c.model = tinyViT()
        c.probe.features = .pixels; c.probe.epochs = 5; c.probe.batchSize = 50; c.probe.warmupEpochs = 1
        let r = try FrozenEvaluation.linearProbe(c, checkpoint: nil, runDirectory: tempDir(), compute: .serial)
        XCTAssertEqual(r["evaluation"] as? String, "held-out")
        XCTAssertEqual(r["train_images"] as? Int, 200); XCTAssertEqual(r["test_images"] as? Int, 60)
        XCTAssertEqual(r["holdout"] as? Int, 60)
        let k = try FrozenEvaluation.knn(c, checkpoint: nil, runDirectory: tempDir(), compute: .serial)
        XCTAssertEqual(k["evaluation"] as? String, "held-out"); XCTAssertEqual(k["test_images"] as? Int, 60)
        c.data.holdout = 0
        let t = try FrozenEvaluation.knn(c, checkpoint: nil, runDirectory: tempDir(), compute: .serial)
        XCTAssertEqual(t["evaluation"] as? String, "test"); XCTAssertEqual(t["test_images"] as? Int, 75)
    }
}
