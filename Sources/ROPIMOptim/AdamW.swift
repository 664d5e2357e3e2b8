// AdamW with torch.optim.AdamW semantics (decoupled weight decay, bias-corrected moments), over the
// flat parameter buffer; gradient-norm clipping as torch.nn.utils.clip_grad_norm_.

import Foundation
import ROPIMKernels
import ROPIMNN

public final class AdamW {
    public let params: ParameterStore
    public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    public let m: Tensor, v: Tensor
    /// Number of updates taken so far (t in the bias corrections).
    public private(set) var step = 0
    /// Learning-rate multiplier per parameter entry (in `params.entries` order), as torch param groups
    /// with `lr_scale` (layer-wise LR decay); the group's lr also scales its weight decay. All 1 by default.
    public var lrScales: [Float]

    public init(params: ParameterStore, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.05) {
        self.params = params
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        m = Tensor(shape: [params.count]); v = Tensor(shape: [params.count])
        lrScales = [Float](repeating: 1, count: params.entries.count)
    }

    /// One update with learning rate `lr`; weight decay only on entries marked `decay`.
    public func update(lr: Float, compute: ComputeContext) {
        Profiler.measure("optimizer") { apply(lr: lr, compute: compute) }
    }

    private func apply(lr: Float, compute: ComputeContext) {
        step += 1
        let b1 = beta1, b2 = beta2, eps = eps
        let bc1 = 1 - Float(Foundation.pow(Double(b1), Double(step)))
        let bc2 = 1 - Float(Foundation.pow(Double(b2), Double(step)))
        precondition(lrScales.count == params.entries.count, "AdamW.lrScales needs one value per parameter entry")
        let rbc2 = 1 / bc2.squareRoot()
        for (ei, e) in params.entries.enumerated() {
            let p = params.value(e.ref), g = params.grad(e.ref)
            let mm = m.data + e.ref.offset, vv = v.data + e.ref.offset
            let groupLR = lr * lrScales[ei], stepSize = groupLR / bc1
            let decay: Float = e.decay ? 1 - groupLR * weightDecay : 1
            // Elementwise, so any split over the threads gives the same bits.
            compute.forChunks(e.ref.count, minChunk: 1 << 15) { r in
                for i in r {
                    let gi = g[i]
                    mm[i] = b1 * mm[i] + (1 - b1) * gi
                    vv[i] = b2 * vv[i] + (1 - b2) * gi * gi
                    let denom = vv[i].squareRoot() * rbc2 + eps
                    p[i] = p[i] * decay - stepSize * mm[i] / denom
                }
            }
        }
    }

    /// Restores moments and step (for resume).
    public func load(step: Int, m mValues: UnsafePointer<Float>, v vValues: UnsafePointer<Float>) {
        self.step = step
        m.data.update(from: mValues, count: m.count)
        v.data.update(from: vValues, count: v.count)
    }
}

public enum GradientClipping {
    /// Returns the total L2 norm of all gradients; if it exceeds maxNorm (> 0), scales them by maxNorm/(norm + 1e-6).
    @discardableResult
    public static func clip(_ params: ParameterStore, maxNorm: Double) -> Double {
        Profiler.measure("optimizer") { clipNow(params, maxNorm: maxNorm) }
    }

    static func clipNow(_ params: ParameterStore, maxNorm: Double) -> Double {
        let g = params.grads
        let norm = Vec.sumOfSquares(g.data, count: g.count).squareRoot()
        if maxNorm > 0 && norm > maxNorm {
            let s = Float(maxNorm / (norm + 1e-6))
            for i in 0..<g.count { g.data[i] *= s }
        }
        return norm
    }
}

extension AdamW {
    /// AdamW with the betas, eps and weight decay of `o`, and layer-wise LR decay (`o.layer_decay`) over an
    /// encoder of `depth` blocks (see `LayerDecay`; 1 = every scale is 1).
    public convenience init(params: ParameterStore, config o: OptimConfig, depth: Int) {
        self.init(params: params, beta1: Float(o.betas[0]), beta2: Float(o.betas[1]), eps: Float(o.eps),
                  weightDecay: Float(o.weightDecay))
        if o.layerDecay != 1 { lrScales = LayerDecay.scales(params, depth: depth, decay: o.layerDecay) }
    }
}
