import XCTest
import ROPIMKernels
import ROPIMNN
@testable import ROPIMTraining

final class BenchTests: XCTestCase {
    /// `bench --gemm` lists every distinct linear product of the step: counted once per block, with
    /// the attention products (3 passes × 2 products × 2·N²·D per block), they add up to the analytic step count.
    func testGEMMShapesAndAttentionAddUpToTheStepFlops() {
        for (img, patch, chans, dim, depth) in [(224, 16, 3, 192, 12), (28, 4, 1, 192, 6), (8, 2, 1, 8, 2)] {
            var v = ViTConfig()
            v.imgSize = img; v.patchSize = patch; v.inChans = chans; v.embedDim = dim; v.depth = depth
            let batch = 3
            // Each product is listed once; the four block layers run once per block.
            let linear = Bench.gemmShapes(v, batch: batch).reduce(0.0) { total, s in
                let times = ["patch_embed", "decoder"].contains(s.layer) ? 1 : Double(v.depth)
                return total + times * 2 * Double(s.m * s.n * s.k)
            }
            let n = Double(v.numTokens), attention = Double(v.depth) * 3 * 2 * 2 * n * n * Double(dim)
            XCTAssertEqual(linear + attention * Double(batch), Bench.stepFlops(v) * Double(batch), accuracy: 1, "\(img)/p\(patch)")
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
        XCTAssertEqual(shapes.count, Bench.gemmShapes(c.model, batch: 2).count)
        XCTAssertTrue(shapes.allSatisfy { $0.gflops > 0 })
    }
}
