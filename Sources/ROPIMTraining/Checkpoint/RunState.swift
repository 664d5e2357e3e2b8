// Resumable checkpoints: everything a run needs to continue bit for bit — weights, AdamW moments and
// step, the corruption/drop-path generator, the loader position, the resolved config. One directory
// per checkpoint (`ckpt-00000468/`: model.safetensors, optimizer.safetensors, state.json), written
// under a temporary name, flushed and renamed, so a kill at any moment leaves the previous one whole.

import Foundation
import ROPIMCore
import ROPIMData
import ROPIMKernels
import ROPIMNN
import ROPIMOptim
import ROPIMFiles

/// The small versioned part of a resumable checkpoint (state.json).
public struct RunState: Codable, Equatable, Sendable {
    public static let currentFormat = 1
    public var format = RunState.currentFormat
    public var ropimVersion: String
    /// Optimizer steps taken.
    public var step: Int
    public var adamStep: Int
    /// The corruption and drop-path generator after `step` steps.
    public var corruptionRNG: RNG
    /// The loader's next batch.
    public var dataPosition: LoaderPosition
    /// Mean loss of each finished epoch (for "best" and for the summary).
    public var epochLosses: [Double]
    /// Threads of the run that wrote it: an exact resume needs the same count.
    public var threads: Int
    /// The resolved config as YAML.
    public var config: String
}

public enum RunCheckpoint {
    static let prefix = "ckpt-"

    /// Writes `dir/ckpt-<step>/` atomically (temporary directory, fsync'd files, rename), then prunes old ones.
    @discardableResult
    public static func save(model: any PretrainingObjective, optimizer: AdamW, state: RunState, in dir: String,
                            keepLast: Int, best: Bool) throws -> String {
        let name = prefix + String(format: "%08d", state.step)
        let final = dir + "/" + name, tmp = dir + "/." + name + ".tmp-\(getpid())"
        let fm = FileManager.default
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let p = model.params
        try SafeTensors.write(p.namedTensors(), metadata: RopimFormat.pretrain.metadata(["step": String(state.step), "config": state.config]),
                              to: tmp + "/model.safetensors")
        try SafeTensors.write(p.namedTensors(of: optimizer.m.data, prefix: "m.") + p.namedTensors(of: optimizer.v.data, prefix: "v."),
                              metadata: RopimFormat.adamw.metadata(["step": String(state.adamStep)]), to: tmp + "/optimizer.safetensors")
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(state), to: tmp + "/state.json")
        try? fm.removeItem(atPath: final)
        guard rename(tmp, final) == 0 else {
            throw CheckpointError(description: "\(final): cannot rename the finished checkpoint into place (errno \(errno))")
        }
        if best {
            let bestDir = dir + "/ckpt-best", bestTmp = dir + "/.ckpt-best.tmp-\(getpid())"
            try? fm.removeItem(atPath: bestTmp)
            try fm.copyItem(atPath: final, toPath: bestTmp)
            try? fm.removeItem(atPath: bestDir)
            _ = rename(bestTmp, bestDir)
        }
        for old in complete(in: dir).dropLast(keepLast) { try? fm.removeItem(atPath: old) }
        // Leftovers of saves killed midway (ours just succeeded, so any other is stale).
        for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasPrefix(".ckpt-") && name.contains(".tmp-") {
            try? fm.removeItem(atPath: dir + "/" + name)
        }
        return final
    }

    /// Complete checkpoints in a run directory, oldest first (temporary leftovers are ignored).
    public static func complete(in dir: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return names.filter { $0.hasPrefix(prefix) && Int($0.dropFirst(prefix.count)) != nil }
            .filter { FileManager.default.fileExists(atPath: dir + "/" + $0 + "/state.json") }
            .sorted().map { dir + "/" + $0 }
    }

    /// The checkpoint `path` names: a checkpoint directory, or a run directory (its newest complete one).
    public static func resolve(_ path: String) throws -> String { try CheckpointPath.resumable(path) }

    /// Reads state.json; errors name the file.
    public static func state(at ckpt: String) throws -> RunState {
        let path = ckpt + "/state.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(description: "\(path): missing or unreadable")
        }
        let dec = JSONDecoder()
        let s: RunState
        do { s = try dec.decode(RunState.self, from: data) } catch {
            throw CheckpointError(description: "\(path): not a valid run state (\(error)); the checkpoint is corrupt")
        }
        guard s.format == RunState.currentFormat else {
            throw CheckpointError(description: "\(path): run-state format \(s.format), this ropim reads format \(RunState.currentFormat)")
        }
        return s
    }

    /// Loads weights and AdamW moments into a trainer built from the same config.
    public static func restore(_ ckpt: String, model: any PretrainingObjective, optimizer: AdamW, state: RunState) throws {
        let (weights, _) = try SafeTensors.read(ckpt + "/model.safetensors")
        let report = try model.params.load(weights, source: ckpt + "/model.safetensors")
        guard report.missing.isEmpty, report.unexpected.isEmpty else {
            throw CheckpointError(description: "\(ckpt)/model.safetensors does not match the model: \(report)")
        }
        let (moments, _) = try SafeTensors.read(ckpt + "/optimizer.safetensors")
        let m = Tensor(shape: [model.params.count]), v = Tensor(shape: [model.params.count])
        var filled = 0
        for t in moments {
            let isM = t.name.hasPrefix("m."), name = String(t.name.dropFirst(2))
            guard let e = model.params.entry(name), e.ref.count == t.values.count else {
                throw CheckpointError(description: "\(ckpt)/optimizer.safetensors: '\(t.name)' does not match the model")
            }
            t.values.withUnsafeBufferPointer { ((isM ? m : v).data + e.ref.offset).update(from: $0.baseAddress!, count: e.ref.count) }
            filled += 1
        }
        guard filled == 2 * model.params.entries.count else {
            throw CheckpointError(description: "\(ckpt)/optimizer.safetensors: \(filled) moment tensors for \(model.params.entries.count) parameters; the file is incomplete")
        }
        optimizer.load(step: state.adamStep, m: m.data, v: v.data)
    }
}
