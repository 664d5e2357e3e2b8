// SGD with momentum, torch.optim.SGD semantics (dampening 0, no Nesterov): g += wd·w; buf = μ·buf + g;
// w −= lr·buf. Weight decay only on entries marked `decay` (biases and norms get none). The linear
// probe's optimizer (MAE uses LARS; plain SGD + momentum is DINO's and the common fallback).

import ROPIMKernels
import ROPIMNN

public final class SGD {
    public let params: ParameterStore
    public var momentum: Float, weightDecay: Float
    /// The momentum buffer, one value per parameter (flat, in `params` order).
    public private(set) var buffer: [Float]

    public init(params: ParameterStore, momentum: Float = 0.9, weightDecay: Float = 0) {
        self.params = params; self.momentum = momentum; self.weightDecay = weightDecay
        buffer = [Float](repeating: 0, count: params.count)
    }

    /// One update with learning rate `lr` from the gradients in `params`.
    public func update(lr: Float) {
        let mu = momentum
        buffer.withUnsafeMutableBufferPointer { buf in
            for e in params.entries {
                let w = params.value(e.ref), g = params.grad(e.ref), b = buf.baseAddress! + e.ref.offset
                let wd = e.decay ? weightDecay : 0
                for i in 0..<e.ref.count {
                    let gi = g[i] + wd * w[i]
                    b[i] = mu * b[i] + gi
                    w[i] -= lr * b[i]
                }
            }
        }
    }
}
