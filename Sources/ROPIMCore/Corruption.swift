// How the patch tokens are corrupted before the encoder, and where the loss looks (docs/METHOD.md §3).

import ROPIMKernels
import ROPIMNN

public enum CorruptionKind: String, Codable, CaseIterable, Sendable {
    /// ROPIM: tokens X → Π·X; loss on Π⊥(Y − Ŷ).
    case rop
    /// SimMIM: random blocks of tokens replaced by a learned mask token; loss on masked patches.
    case mask
    /// No corruption; loss on every patch (an autoencoder baseline).
    case none
    /// Ablation: tokens X → Π⊥·X; loss on Π(Y − Ŷ).
    case complementInput = "complement-input"
}

public enum LossKind: String, Codable, CaseIterable, Sendable {
    case l1   // reference
    case mse  // slightly better in the authors' ablation
}

/// The method's settings (YAML section `method`).
public struct MethodConfig: Codable, Equatable, Sendable {
    /// rop | mask | none | complement-input
    public var corruption = CorruptionKind.rop
    /// K': sketch size (rows of P). Balanced sampling needs K' to divide the token count K.
    public var sketchSize = 7
    /// balanced (reference: every bucket holds K/K' tokens) | iid
    public var sampler = SketchSampler.balanced
    /// 0: exact projector Π = P†P. > 0: the reference code's scale·PᵀP (0.14 there), for side-by-side runs.
    public var referenceScale = 0.0
    /// SimMIM mask ratio (fraction of mask patches hidden).
    public var maskRatio = 0.6
    /// SimMIM mask patch side in pixels: a multiple of the model patch size dividing the image size.
    public var maskPatchSize = 4
    /// l1 | mse, on normalized pixels.
    public var loss = LossKind.l1

    public init() {}

    public var projectorScale: ProjectorScale { referenceScale > 0 ? .reference(Float(referenceScale)) : .exact }

    public struct Invalid: Error, CustomStringConvertible { public let description: String }

    /// Checks the settings against the encoder's shape; errors name the key and the fix.
    public func validate(for vit: ViTConfig) throws {
        switch corruption {
        case .rop, .complementInput:
            let k = vit.numPatches
            if sketchSize < 1 || sketchSize > k {
                throw Invalid(description: "method.sketch_size \(sketchSize) must be between 1 and the token count K=\(k)")
            }
            if sampler == .balanced && k % sketchSize != 0 {
                let divisors = (1...k).filter { k % $0 == 0 }.map(String.init).joined(separator: ", ")
                throw Invalid(description: "method.sketch_size K'=\(sketchSize) does not divide the token count K=\(k) (img_size \(vit.imgSize) / patch_size \(vit.patchSize) = \(vit.gridSize)² tokens): the balanced (reference) sampler needs K' to divide K; use one of \(divisors), or set method.sampler: iid")
            }
        case .mask:
            if !(maskRatio > 0 && maskRatio < 1) { throw Invalid(description: "method.mask_ratio must be in (0, 1), got \(maskRatio)") }
            if maskPatchSize % vit.patchSize != 0 || vit.imgSize % maskPatchSize != 0 {
                throw Invalid(description: "method.mask_patch_size \(maskPatchSize) must be a multiple of model.patch_size \(vit.patchSize) and divide model.img_size \(vit.imgSize)")
            }
        case .none: break
        }
        if referenceScale < 0 { throw Invalid(description: "method.reference_scale must be ≥ 0 (0 = exact projector), got \(referenceScale)") }
    }
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
