import XCTest
import ROPIMKernels
import ROPIMNN
@testable import ROPIMTraining

final class BenchTests: XCTestCase {
    /// `bench --gemm` lists every product of the step (linear and attention) with how often a step runs it:
    /// together they add up to the analytic step count.
    func testStepProductsAddUpToTheStepFlops() {
        for (img, patch, chans, dim, depth, heads) in [(224, 16, 3, 192, 12, 3), (28, 4, 1, 192, 6, 3), (8, 2, 1, 8, 2, 2)] {
            var v = ViTConfig()
            v.imgSize = img; v.patchSize = patch; v.inChans = chans; v.embedDim = dim; v.depth = depth; v.numHeads = heads
            let batch = 3
            let products = Bench.stepProducts(v, batch: batch)
            let total = products.reduce(0.0) { $0 + Double($1.perStep) * $1.shape.flops }
            XCTAssertEqual(total, Bench.stepFlops(v) * Double(batch), accuracy: 1, "\(img)/p\(patch)")
            XCTAssertEqual(products.filter(\.attention).count, 6, "QKᵀ, P·V and four backward products")
        }
    }

    /// A tiny model through the whole bench (the peak probe shortened: debug builds run it slowly):
    /// every family it reports is non-negative, the FLOP count and the probe are positive, and the GEMM-shape pass returns one row per product.
    func testBenchRunsOnATinyModel() throws {
        var c = PretrainConfig()
        c.model.imgSize = 8; c.model.patchSize = 2; c.model.embedDim = 16; c.model.depth = 2; c.model.numHeads = 2
        c.method.sketchSize = 4
        c.optim.batchSize = 2
        let r = try Bench.run(config: c, preset: "test", steps: 1, warmup: 0, peakGflops: 1, compute: .serial)
        XCTAssertGreaterThan(r.gflopPerImage, 0)
        XCTAssertGreaterThan(Bench.measurePeak(compute: .serial, seconds: 0, iterations: 100), 0)
        XCTAssertGreaterThan(r.peakRssBytes, 0)
        XCTAssertTrue(["gemm", "attention", "gelu", "layernorm", "loss", "optimizer"].allSatisfy { r.opSeconds[$0] != nil },
                      "\(r.opSeconds.keys.sorted())")
        XCTAssertTrue(r.opSeconds.values.allSatisfy { $0 >= 0 })
        let shapes = Bench.runGEMMShapes(config: c, repeats: 1, peakGflops: 1, compute: .serial)
        XCTAssertEqual(shapes.count, Bench.stepProducts(c.model, batch: 2).count)
        XCTAssertTrue(shapes.allSatisfy { $0.gflops > 0 && !$0.implementation.isEmpty })
    }
}
