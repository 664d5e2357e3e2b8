// The checks every objective's tests share: the whole objective against finite differences, and one step
// that reaches every parameter.

import XCTest
import ROPIMKernels
import ROPIMNN
import ROPIMCore

enum ObjectiveChecks {
    /// Finite differences of the training-mode loss (the same step rng each time) against backward.
    static func gradients(_ model: any PretrainingObjective, images: Tensor, batch: Int, eps: Float,
                          kinkTolerance: Double? = nil) -> GradientCheckResult {
        let stepRNG = RNG(seed: 42)
        return GradientCheck.run(targets: GradientCheck.targets(model.params), samples: 3, eps: eps, floor: 0.05,
                                 kinkTolerance: kinkTolerance, loss: {
            var rng = stepRNG
            return model.forward(images: images, batch: batch, training: true, rng: &rng, compute: .serial)
        }, analytic: {
            var rng = stepRNG
            model.params.zeroGrads()
            _ = model.forward(images: images, batch: batch, training: true, rng: &rng, compute: .serial)
            model.backward(compute: .serial)
        })
    }

    /// One evaluation-mode forward and backward: a finite positive loss, every gradient finite and not all zero.
    static func assertEveryParameterTrains(_ model: any PretrainingObjective, images: Tensor, batch: Int, _ label: String,
                                           file: StaticString = #filePath, line: UInt = #line) {
        var rng = RNG(seed: 3)
        model.params.zeroGrads()
        let loss = model.forward(images: images, batch: batch, training: false, rng: &rng, compute: .serial)
        XCTAssert(loss.isFinite && loss > 0, "\(label): loss \(loss)", file: file, line: line)
        model.backward(compute: .serial)
        for e in model.params.entries {
            let g = UnsafeBufferPointer(start: model.params.grad(e.ref), count: e.ref.count)
            XCTAssert(g.allSatisfy { $0.isFinite }, "\(label): non-finite gradient in \(e.name)", file: file, line: line)
            XCTAssert(g.contains { $0 != 0 }, "\(label): \(e.name) has an all-zero gradient", file: file, line: line)
        }
    }
}
