// The fine-tuning classifier (BEiT with mean pooling, as SimMIM/ROPIM fine-tune):
//   images [B,C,H,W] → ViT encoder without its final norm (no corruption) → [B·N, D]
//   → mean of the K patch tokens [B, D] → fc_norm (LayerNorm) → head (linear) → logits [B, classes]
// Parameter names are timm's BEiT: patch_embed.proj.*, blocks.i.*, fc_norm.*, head.*.

import Foundation
import ROPIMKernels
import ROPIMNN
import ROPIMTraining
import ROPIMFiles

public final class ViTClassifier {
    public let vit: ViTConfig
    public let classes: Int
    public let params = ParameterStore()
    public let encoder: VisionTransformer
    public let fcNorm: LayerNorm
    public let head: Linear

    // Saved for backward.
    public let pooled = Tensor(shape: [0])      // [B, D] mean of patch tokens
    public let normed = Tensor(shape: [0])      // [B, D] fc_norm output
    let fcMean = Tensor(shape: [0]), fcRstd = Tensor(shape: [0])
    public let logits = Tensor(shape: [0])      // [B, classes]
    let dNormed = Tensor(shape: [0]), dPooled = Tensor(shape: [0]), dOut = Tensor(shape: [0])
    public private(set) var batch = 0

    public init(vit: ViTConfig, classes: Int) throws {
        try vit.validate()
        guard classes >= 1 else { throw DownstreamError("the classifier needs at least 1 class, got \(classes)") }
        self.vit = vit
        self.classes = classes
        encoder = VisionTransformer(config: vit, params: params, prefix: "", finalNorm: false)
        fcNorm = LayerNorm(params, "fc_norm", dim: vit.embedDim)
        head = Linear(params, "head", inFeatures: vit.embedDim, outFeatures: classes)
        params.allocate()
    }

    /// Encoder as BEiT/timm; fc_norm 1/0; head weight trunc-normal(initStd) × headInitScale, bias 0 (BEiT init_scale).
    public func initialize(rng: inout RNG, headInitScale: Double = 0.001) {
        encoder.initialize(rng: &rng)
        fcNorm.initialize(params)
        let std = vit.initStd
        params.fill(head.weight) { _ in Float(rng.truncatedNormal(std: std) * headInitScale) }
        params.fill(head.bias!) { _ in 0 }
    }

    /// logits [B, classes] of normalized images [B, C, H, W]. Training draws image b's drop-path masks from `rngs[b]`.
    @discardableResult
    public func forward(images: Tensor, batch: Int, training: Bool, rngs: inout [RNG], compute: ComputeContext) -> Tensor {
        self.batch = batch
        let d = vit.embedDim, n = vit.numTokens
        let tokens = encoder.embedPatches(images, batch: batch, compute: compute)
        let out = encoder.encode(tokens.data, batch: batch, training: training, rngs: &rngs, compute: compute)
        pooled.resize([batch, d]); normed.resize([batch, d]); fcMean.resize([batch]); fcRstd.resize([batch])
        logits.resize([batch, classes])
        ViTClassifier.meanPool(out.data, batch: batch, tokens: n, dim: d, into: pooled.data)
        fcNorm.forward(params, x: pooled.data, rows: batch, y: normed.data, mean: fcMean.data, rstd: fcRstd.data, compute: compute)
        head.forward(params, x: normed.data, rows: batch, y: logits.data, compute: compute)
        return logits
    }

    /// `forward` for evaluation (no drop path): nothing is drawn, so no generator is passed.
    @discardableResult
    public func forward(images: Tensor, batch: Int, compute: ComputeContext) -> Tensor {
        var none: [RNG] = []
        return forward(images: images, batch: batch, training: false, rngs: &none, compute: compute)
    }

    /// Accumulates every parameter gradient from dLogits [B, classes] of the last forward.
    public func backward(_ dLogits: UnsafePointer<Float>, compute: ComputeContext) {
        let d = vit.embedDim, n = vit.numTokens
        dNormed.resize([batch, d]); dPooled.resize([batch, d]); dOut.resize([batch * n, d])
        head.backward(params, dy: dLogits, x: normed.data, rows: batch, dx: dNormed.data, compute: compute)
        fcNorm.backward(params, dy: dNormed.data, x: pooled.data, rows: batch, mean: fcMean.data, rstd: fcRstd.data,
                        dx: dPooled.data, accumulate: false, compute: compute)
        ViTClassifier.meanPoolBackward(dPooled.data, batch: batch, tokens: n, dim: d, into: dOut.data)
        let dTokens = encoder.backwardEncode(dOut.data, compute: compute)
        encoder.backwardPatches(dTokens.data, compute: compute)
    }

    /// pooled[b] = (1/K) Σ_{t=1..K} x[b, t]  (x [B, N, D] with cls at t = 0, K = N − 1).
    public static func meanPool(_ x: UnsafePointer<Float>, batch: Int, tokens n: Int, dim d: Int,
                                into pooled: UnsafeMutablePointer<Float>) {
        let inv = 1 / Float(n - 1)
        for b in 0..<batch {
            let dst = pooled + b * d
            dst.update(repeating: 0, count: d)
            for t in 1..<n { Vec.add(x + (b * n + t) * d, into: dst, count: d) }
            for j in 0..<d { dst[j] *= inv }
        }
    }

    /// dx[b, t] = dPooled[b] / K for patch tokens, 0 for the cls row.
    public static func meanPoolBackward(_ dPooled: UnsafePointer<Float>, batch: Int, tokens n: Int, dim d: Int,
                                        into dx: UnsafeMutablePointer<Float>) {
        let inv = 1 / Float(n - 1)
        for b in 0..<batch {
            (dx + b * n * d).update(repeating: 0, count: d)
            for t in 1..<n {
                let row = dx + (b * n + t) * d
                for j in 0..<d { row[j] = dPooled[b * d + j] * inv }
            }
        }
    }

    // MARK: loading a pre-training checkpoint

    /// Copies a pre-training checkpoint's encoder into this classifier by name ("encoder." stripped).
    /// A shared relative position table is copied into every block's own table (BEiT fine-tuning).
    /// When the patch grid changed (another image size, same patch size), every relative position table
    /// (shared or per block) and a learned pos_embed are first resized bicubically to this grid
    /// (`RelativePositionBias.resizeTable`, `VisionTransformer.resizePosEmbed`) and listed in the report's
    /// `resized`; a sin-cos pos_embed is fixed and simply built for the new grid.
    /// The checkpoint's final norm, mask token and decoder are not used (reported as unexpected); fc_norm and
    /// head keep their initialization (reported as missing). Throws when the architectures differ.
    @discardableResult
    public func loadPretrained(_ ckpt: PretrainCheckpoint, source: String) throws -> LoadReport {
        let pre = ckpt.config.model
        try ViTClassifier.checkCompatible(pretrained: pre, finetune: vit, source: source)
        var tensors = ckpt.model.params.namedTensors()
        var resized: [String] = []
        if pre.gridSize != vit.gridSize {
            tensors = try tensors.map { t in
                guard let r = try ViTClassifier.resizedToGrid(t, pretrained: pre, finetune: vit, source: source) else { return t }
                resized.append(t.name)
                return r
            }
        }
        let sharedName = "encoder.rel_pos_bias.relative_position_bias_table"
        var report = try params.load(tensors, source: source) { name in
            guard name.hasPrefix("encoder."), name != sharedName else { return nil }
            return String(name.dropFirst("encoder.".count))
        }
        report.resized = resized
        if let shared = tensors.first(where: { $0.name == sharedName }), vit.relPosBias == .perBlock {
            var copied = 0
            for (i, blk) in encoder.blocks.enumerated() {
                guard let rp = blk.attn.relPos else { continue }
                guard shared.values.count == rp.table.count else {
                    throw DownstreamError("\(source): the shared relative position table has \(shared.values.count) values but block \(i) needs \(rp.table.count) (grid \(vit.gridSize)×\(vit.gridSize), \(vit.numHeads) heads); the checkpoint's tensors do not match its config")
                }
                shared.values.withUnsafeBufferPointer { params.value(rp.table).update(from: $0.baseAddress!, count: rp.table.count) }
                let name = "blocks.\(i).attn.relative_position_bias_table"
                report.loaded.append(name)
                report.missing.removeAll { $0 == name }
                copied += 1
            }
            if copied > 0 { report.unexpected.removeAll { $0 == sharedName } }
        }
        return report
    }

    /// `t` carried from the pre-training grid to the fine-tuning grid, or nil when it does not depend on
    /// the grid. Relative position tables [(2G−1)²+3, heads] → [(2G'−1)²+3, heads]; pos_embed [1, 1+G², D] → [1, 1+G'², D].
    static func resizedToGrid(_ t: NamedTensor, pretrained a: ViTConfig, finetune b: ViTConfig, source: String) throws -> NamedTensor? {
        let (g, g2) = (a.gridSize, b.gridSize)
        if t.name.hasSuffix("relative_position_bias_table") {
            let h = a.numHeads, rows = RelativePositionBias.tableRows(gridHeight: g, gridWidth: g)
            guard t.values.count == rows * h else {
                throw DownstreamError("\(source): '\(t.name)' has shape \(t.shape) but grid \(g)×\(g) with \(h) heads needs [\(rows), \(h)]; the checkpoint's tensors do not match its config")
            }
            let values = RelativePositionBias.resizeTable(t.values, heads: h, from: (g, g), to: (g2, g2))
            return NamedTensor(name: t.name, shape: [RelativePositionBias.tableRows(gridHeight: g2, gridWidth: g2), h], values: values)
        }
        if t.name == "encoder.pos_embed" {
            let d = a.embedDim
            guard t.values.count == (1 + g * g) * d else {
                throw DownstreamError("\(source): '\(t.name)' has shape \(t.shape) but grid \(g)×\(g) needs [1, \(1 + g * g), \(d)]; the checkpoint's tensors do not match its config")
            }
            return NamedTensor(name: t.name, shape: [1, 1 + g2 * g2, d], values: VisionTransformer.resizePosEmbed(t.values, dim: d, from: g, to: g2))
        }
        return nil
    }

    /// The architecture fields that must agree between a pre-trained encoder and the classifier's.
    /// The image size may differ (position tables are then resized to the new patch grid) as long as it
    /// stays a multiple of the patch size.
    public static func checkCompatible(pretrained a: ViTConfig, finetune b: ViTConfig, source: String) throws {
        var diffs: [String] = []
        func cmp<T: Equatable>(_ key: String, _ x: T, _ y: T) { if x != y { diffs.append("model.\(key): checkpoint \(x), fine-tune \(y)") } }
        cmp("embed_dim", a.embedDim, b.embedDim); cmp("depth", a.depth, b.depth); cmp("num_heads", a.numHeads, b.numHeads)
        cmp("mlp_ratio", a.mlpRatio, b.mlpRatio); cmp("in_chans", a.inChans, b.inChans); cmp("patch_size", a.patchSize, b.patchSize)
        cmp("layer_scale (on)", a.layerScaleInit > 0, b.layerScaleInit > 0); cmp("pos_embed", a.posEmbed, b.posEmbed)
        if !diffs.isEmpty {
            throw DownstreamError("\(source): the checkpoint's encoder does not match the fine-tuning model (\(diffs.joined(separator: "; "))); drop those model.* overrides so the checkpoint's architecture is used")
        }
        if b.imgSize < b.patchSize || b.imgSize % b.patchSize != 0 {
            let near = max(1, b.imgSize / b.patchSize) * b.patchSize
            throw DownstreamError("\(source): model.img_size \(b.imgSize) is not a multiple of the checkpoint's model.patch_size \(b.patchSize), so the patch grid is not whole; fine-tune at a multiple of \(b.patchSize) px (e.g. \(near) or \(near + b.patchSize); pre-trained at \(a.imgSize))")
        }
        let relOK = a.relPosBias == b.relPosBias || (a.relPosBias == .shared && b.relPosBias == .perBlock)
        if !relOK {
            throw DownstreamError("\(source): pre-trained with model.rel_pos_bias \(a.relPosBias.rawValue) but fine-tuning with \(b.relPosBias.rawValue); use \(a.relPosBias == .shared ? "per-block or shared" : a.relPosBias.rawValue)")
        }
    }
}
