// No corruption (`none`): the encoder sees every token and the loss looks at every patch, an
// autoencoder baseline. The smallest `TokenCorruption`.

import ROPIMKernels
import ROPIMNN

public final class NoCorruption: TokenCorruption {
    let tokens: Int, dim: Int

    public static func validate(_ m: MethodConfig, vit: ViTConfig, selected: Bool) throws {}
    public init(vit: ViTConfig, method: MethodConfig, params: ParameterStore) { tokens = vit.numPatches; dim = vit.embedDim }
    public func initialize(params: ParameterStore, rng: inout RNG) {}
    public func sample(rngs: inout [RNG]) {}
    public func corrupt(_ x: Tensor, into y: Tensor, params: ParameterStore, batch: Int, compute: ComputeContext) {
        y.data.update(from: x.data, count: batch * tokens * dim)
    }
    public func corruptBackward(_ g: Tensor, params: ParameterStore, batch: Int, compute: ComputeContext) {}
    public func lossView(_ e: UnsafeMutablePointer<Float>, cols: Int, batch: Int, compute: ComputeContext) -> Double { Double(batch * tokens * cols) }
    public func lossViewBackward(_ g: UnsafeMutablePointer<Float>, cols: Int, batch: Int, compute: ComputeContext) {}
    /// Nothing is hidden, so the pasted picture is the image itself.
    public func views(image b: Int) -> ObjectiveViews {
        ObjectiveViews(kept: .identity, loss: .identity, fill: .rows([Bool](repeating: false, count: tokens)))
    }
    public var pictureTitles: [String] { ["original x", "input x", "output y^", "x (all kept)", "|x-y^|"] }
}
