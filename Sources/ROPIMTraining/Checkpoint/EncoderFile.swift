// One way to get a ready encoder out of any weights file this project reads (see CheckpointPath and
// CheckpointHeader): a run or ckpt-*/ directory, a checkpoint or fine-tuning file, or an export with its sidecar.

import Foundation
import ROPIMData
import ROPIMKernels
import ROPIMNN
import ROPIMFiles
import ROPIMConfig

public struct EncoderFile {
    public let path: String
    public let config: ViTConfig
    public let normalization: Normalization
    public let params: ParameterStore
    public let encoder: VisionTransformer
    public let report: LoadReport
    /// The pre-training config when the file is a ropim checkpoint.
    public let pretrainConfig: PretrainConfig?

    /// How the file was used, when the user should know (e.g. a fine-tuned classifier's encoder).
    public let note: String?
    /// The data the weights were trained on, as far as the file says (the defaults otherwise).
    public let data: DataConfig

    /// Loads the encoder of any path `CheckpointPath` resolves.
    public init(_ given: String) throws {
        path = try CheckpointPath.resolve(given).file
        let (_, meta) = try SafeTensors.read(path)
        let header = try CheckpointHeader(file: path, metadata: meta)
        config = header.config.model
        normalization = header.config.data.normalization
        data = header.config.data
        pretrainConfig = header.layout == .pretrain ? header.config : nil
        note = header.note
        params = ParameterStore()
        encoder = VisionTransformer(config: config, params: params)
        params.allocate()
        if header.layout == .classifier {
            encoder.norm?.initialize(params)   // the final norm the classifier lacks starts as LayerNorm's identity
        }
        report = try Interchange.importEncoder(path, into: params, prefix: "")
        let missing = report.missing.filter { !header.mayLack($0, prefix: "") }
        guard missing.isEmpty else {
            throw CheckpointError(description: "\(path): missing encoder weights: \(report)")
        }
    }

    static func vitConfig(_ car: ExportSidecar) throws -> ViTConfig {
        func int(_ k: String) throws -> Int {
            guard case .int(let v)? = car.timmKwargs[k] else { throw CheckpointError(description: "sidecar: timm_kwargs.\(k) missing or not an integer") }
            return v
        }
        var v = ViTConfig()
        v.imgSize = try int("img_size"); v.patchSize = try int("patch_size"); v.inChans = try int("in_chans")
        v.embedDim = try int("embed_dim"); v.depth = try int("depth"); v.numHeads = try int("num_heads")
        if case .double(let r)? = car.timmKwargs["mlp_ratio"] { v.mlpRatio = r }
        if case .int(let r)? = car.timmKwargs["mlp_ratio"] { v.mlpRatio = Double(r) }
        switch car.timmKwargs["init_values"] {
        case .double(let g)?: v.layerScaleInit = g
        case .int(let g)?: v.layerScaleInit = Double(g)
        default: v.layerScaleInit = 0
        }
        v.dropPathRate = 0
        if car.format == ExportFormat.beit.rawValue {
            v.posEmbed = car.timmKwargs["use_abs_pos_emb"] == .bool(true) ? .learned : .none
            v.relPosBias = car.timmKwargs["use_shared_rel_pos_bias"] == .bool(true) ? .shared
                : car.timmKwargs["use_rel_pos_bias"] == .bool(true) ? .perBlock : .none
        } else {
            v.posEmbed = .learned; v.relPosBias = .none
        }
        return v
    }

    /// Final normalized tokens [B, N, D] (cls first, patches in raster order) of normalized images [B, C, H, W].
    public func features(_ images: Tensor, batch: Int, compute: ComputeContext) -> Tensor {
        let tok = encoder.embedPatches(images, batch: batch, compute: compute)
        return encoder.encode(tok.data, batch: batch, compute: compute)
    }
}
