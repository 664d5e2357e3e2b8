// One way to get a ready encoder out of any weights file this project reads: a run directory or its
// checkpoint.safetensors (config in the metadata), or an exported timm file with its JSON sidecar.

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

    public init(_ given: String) throws {
        var path = given
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            path += "/checkpoint.safetensors"
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError(description: "\(given): no such checkpoint (give a run directory, its checkpoint.safetensors, or an exported .safetensors with its .json sidecar)")
        }
        let (_, meta) = try SafeTensors.read(path)
        if meta["format"] == "ropim-pretrain", let yaml = meta["config"] {
            let c = try ConfigLoader.load(PretrainConfig.self, yaml: yaml, file: path + " (embedded config)", defaults: PretrainConfig())
            config = c.model; normalization = c.data.normalization; pretrainConfig = c
        } else {
            let sidecarText = meta["sidecar"] ?? (try? String(contentsOfFile: Interchange.sidecarPath(path), encoding: .utf8))
            guard let sidecarText else {
                throw CheckpointError(description: "\(path): not a ropim checkpoint and no sidecar \(Interchange.sidecarPath(path)) describing the architecture; export with `ropim export`, or write the sidecar")
            }
            let dec = JSONDecoder()
            dec.keyDecodingStrategy = .convertFromSnakeCase
            let car: ExportSidecar
            do { car = try dec.decode(ExportSidecar.self, from: Data(sidecarText.utf8)) } catch {
                throw CheckpointError(description: "\(Interchange.sidecarPath(path)): not a valid export sidecar (\(error))")
            }
            config = try EncoderFile.vitConfig(car)
            normalization = Normalization(mean: car.mean, std: car.std)
            pretrainConfig = nil
        }
        try config.validate()
        self.path = path
        params = ParameterStore()
        encoder = VisionTransformer(config: config, params: params)
        params.allocate()
        report = try Interchange.importEncoder(path, into: params, prefix: "")
        guard report.missing.isEmpty else {
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
        var rng = RNG(seed: 0)   // no randomness at inference (no drop path, no corruption)
        let tok = encoder.embedPatches(images, batch: batch, compute: compute)
        return encoder.encode(tok.data, batch: batch, training: false, rng: &rng, compute: compute)
    }
}
