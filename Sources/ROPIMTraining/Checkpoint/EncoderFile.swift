// One way to get a ready encoder out of any weights file this project reads (see CheckpointPath and
// CheckpointHeader): a run or ckpt-*/ directory, a checkpoint or fine-tuning file, or a timm model directory (config.json + model.safetensors).

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
        let header: CheckpointHeader
        (path, _, header) = try CheckpointHeader.read(given)
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

    /// Final normalized tokens [B, N, D] (cls first, patches in raster order) of normalized images [B, C, H, W].
    public func features(_ images: Tensor, batch: Int, compute: ComputeContext) -> Tensor {
        let tok = encoder.embedPatches(images, batch: batch, compute: compute)
        return encoder.encode(tok.data, batch: batch, compute: compute)
    }
}
