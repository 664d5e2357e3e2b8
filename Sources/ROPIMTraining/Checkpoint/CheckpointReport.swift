// `ropim inspect` as a library call: what a run directory, a ckpt-*/ directory or a weights file holds, as
// lines for people: the run's checkpoints and last metrics, the file's tensors and format, and the
// architecture, method and data its metadata names.

import Foundation
import ROPIMFiles

public enum CheckpointReport {
    /// The report for `path` (resolved by `CheckpointPath`); `tensors` adds every tensor with its shape.
    public static func lines(_ path: String, tensors listTensors: Bool = false) throws -> [String] {
        let where_ = try CheckpointPath.resolve(path)
        var out: [String] = []
        switch where_.kind {
        case .checkpointDirectory:
            let s = try RunCheckpoint.state(at: where_.resumable!)
            out.append("resumable checkpoint: step \(s.step), epoch losses \(s.epochLosses.map { String(format: "%.4f", $0) }), data position epoch \(s.dataPosition.epoch) batch \(s.dataPosition.batch), \(s.threads) threads, ropim \(s.ropimVersion)")
        case .runDirectory:
            let ckpts = RunCheckpoint.complete(in: where_.given)
            out.append("run directory: final checkpoint, \(ckpts.count) resumable checkpoint(s)\(ckpts.last.map { " (newest \(URL(fileURLWithPath: $0).lastPathComponent))" } ?? "")")
            if let m = try? String(contentsOfFile: where_.given + "/metrics.jsonl", encoding: .utf8), let last = m.split(separator: "\n").last {
                out.append("last metrics: \(last)")
            }
        case .unfinishedRun:
            out.append("unfinished run directory; newest resumable checkpoint \(where_.resumable!)")
        case .file, .modelDirectory:
            break
        }
        let file = where_.file
        let (ts, meta) = try SafeTensors.read(file)
        let count = ts.reduce(0) { $0 + $1.values.count }
        out.append("\(file): \(ts.count) tensors, \(count) values (\(String(format: "%.2f", Double(count) / 1e6)) M); format \(meta[RopimFormat.key] ?? "unknown")\(meta["step"].map { ", step \($0)" } ?? "")")
        if let h = try? CheckpointHeader(file: file, metadata: meta) {
            let v = h.config.model
            out.append("model: \(v.imgSize)px/p\(v.patchSize) C=\(v.inChans), ViT \(v.embedDim)×\(v.depth), \(v.numHeads) heads, pos \(v.posEmbed.rawValue), rel \(v.relPosBias.rawValue), layer scale \(v.layerScaleInit)")
            let c = h.config
            switch h.layout {
            case .pretrain:
                out.append("method: \(c.method.corruption.rawValue), K'=\(c.method.sketchSize) (\(c.method.sampler.rawValue)), loss \(c.method.loss.rawValue); data \(c.data.dataset.rawValue) \(c.data.path)")
            case .classifier:
                out.append("classifier: \(meta["classes"] ?? "?") classes, epoch \(meta["epoch"] ?? "?"), test top-1 \(meta["test_top1"] ?? "?"); data \(c.data.dataset.rawValue) \(c.data.path)")
            case .encoder:
                break
            }
        }
        if let place = HubConfig.path(besides: file), let hub = try? HubConfig.read(place) {
            out.append("\(place): timm \(hub.architecture), \(hub.numClasses) classes, input \(hub.pretrainedCfg.inputSize), mean \(hub.pretrainedCfg.mean), std \(hub.pretrainedCfg.std)")
        }
        if listTensors { out += ts.map { "  \($0.name) \($0.shape)" } }
        return out
    }
}
