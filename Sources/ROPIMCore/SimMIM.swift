// SimMIM masking (docs/METHOD.md §3), the baseline: per image, ⌈ratio·G²⌉ random mask patches of
// `method.mask_patch_size` pixels are hidden; their tokens are replaced by a learned `encoder.mask_token`
// and the loss looks at the masked patches only. Owns `method.mask_ratio` and `method.mask_patch_size`.

import ROPIMKernels
import ROPIMNN

public final class SimMIM: TokenCorruption {
    public let vit: ViTConfig
    public let maskRatio: Double, maskPatchSize: Int
    public let maskToken: ParamRef
    /// 1 for masked tokens, raster order, per image of the last `sample`.
    public private(set) var masks: [[Float]] = []

    public static func validate(_ m: MethodConfig, vit: ViTConfig, selected: Bool) throws {
        if !(m.maskRatio > 0 && m.maskRatio < 1) {
            throw MethodConfig.Invalid(description: "method.mask_ratio must be in (0, 1), got \(m.maskRatio)")
        }
        guard selected else { return }
        try validateMaskPatch(m.maskPatchSize, vit: vit)
    }

    /// The mask patch must tile the image and cover whole model patches.
    public static func validateMaskPatch(_ size: Int, vit: ViTConfig) throws {
        if size < vit.patchSize || size % vit.patchSize != 0 || vit.imgSize % size != 0 {
            throw MethodConfig.Invalid(description: "method.mask_patch_size \(size) must be a positive multiple of model.patch_size \(vit.patchSize) and divide model.img_size \(vit.imgSize)")
        }
    }

    public init(vit: ViTConfig, method: MethodConfig, params: ParameterStore) {
        self.vit = vit
        maskRatio = method.maskRatio; maskPatchSize = method.maskPatchSize
        maskToken = params.add("encoder.mask_token", shape: [1, 1, vit.embedDim])
    }

    /// SimMIM: trunc-normal(init_std).
    public func initialize(params: ParameterStore, rng: inout RNG) {
        let std = vit.initStd
        params.fill(maskToken) { _ in Float(rng.truncatedNormal(std: std)) }
    }

    public func sample(rngs: inout [RNG]) {
        masks = rngs.indices.map { b in
            simMIMMask(imgSize: vit.imgSize, patchSize: vit.patchSize, maskPatchSize: maskPatchSize, ratio: maskRatio, rng: &rngs[b])
        }
    }

    public func corrupt(_ x: Tensor, into y: Tensor, params: ParameterStore, batch: Int, compute: ComputeContext) {
        let k = vit.numPatches, d = vit.embedDim
        let mt = params.value(maskToken)
        for b in 0..<batch {
            for t in 0..<k {
                let dst = y.data + (b * k + t) * d
                if masks[b][t] > 0 { dst.update(from: mt, count: d) } else { dst.update(from: x.data + (b * k + t) * d, count: d) }
            }
        }
    }

    /// Masked rows feed the mask token's gradient and pass nothing to the patch embedding.
    public func corruptBackward(_ g: Tensor, params: ParameterStore, batch: Int, compute: ComputeContext) {
        let k = vit.numPatches, d = vit.embedDim
        let gm = params.grad(maskToken)
        for b in 0..<batch {
            for t in 0..<k where masks[b][t] > 0 {
                let row = g.data + (b * k + t) * d
                Vec.add(row, into: gm, count: d)
                row.update(repeating: 0, count: d)
            }
        }
    }

    /// Zeroes the visible rows; the mean runs over the masked values.
    public func lossView(_ e: UnsafeMutablePointer<Float>, cols: Int, batch: Int, compute: ComputeContext) -> Double {
        let k = vit.numPatches
        var masked = 0
        for b in 0..<batch {
            for t in 0..<k {
                if masks[b][t] > 0 { masked += 1 } else { (e + (b * k + t) * cols).update(repeating: 0, count: cols) }
            }
        }
        return Double(Swift.max(masked, 1) * cols)
    }

    public func lossViewBackward(_ g: UnsafeMutablePointer<Float>, cols: Int, batch: Int, compute: ComputeContext) {}

    public func views(image b: Int) -> ObjectiveViews { .masking(hidden: masks[b].map { $0 > 0 }) }

    public var pictureTitles: [String] { ["original x", "masked input", "output y^", "visible+y^", "|x-y^| masked"] }
}

/// SimMIM's mask generator: hide ⌈ratio·G²⌉ of the G×G mask patches (G = img/maskPatch), each
/// covering (maskPatch/patch)² model tokens. Returns 1 for masked tokens, raster order.
public func simMIMMask(imgSize: Int, patchSize: Int, maskPatchSize: Int, ratio: Double, rng: inout RNG) -> [Float] {
    let g = imgSize / maskPatchSize, scale = maskPatchSize / patchSize, tg = imgSize / patchSize
    let count = Int((Double(g * g) * ratio).rounded(.up))
    var coarse = [Float](repeating: 0, count: g * g)
    for i in rng.permutation(g * g).prefix(count) { coarse[i] = 1 }
    var mask = [Float](repeating: 0, count: tg * tg)
    for y in 0..<tg { for x in 0..<tg { mask[y * tg + x] = coarse[(y / scale) * g + x / scale] } }
    return mask
}
