// Resumable checkpoints: everything a run needs to continue bit for bit — weights, AdamW moments and
// step, the loader position, the resolved config (per-image draws are a function of the seed, epoch and
// image index, so no generator state is needed). One directory
// per checkpoint (`ckpt-00000468/`: model.safetensors, optimizer.safetensors, state.json), written
// under a temporary name, flushed and renamed, so a kill at any moment leaves the previous one whole.

import Foundation
import ROPIMCore
import ROPIMData
import ROPIMKernels
import ROPIMNN
import ROPIMOptim
import ROPIMFiles
import ROPIMConfig

/// The small versioned part of a resumable checkpoint (state.json).
public struct RunState: Codable, Equatable, Sendable {
    /// 2: no generator state (per-image draws), the world size. Format 1 (with `corruptionRNG`, ignored) is read.
    public static let currentFormat = 2
    public static let readable = 1...2
    public var format = RunState.currentFormat
    public var ropimVersion: String
    /// Optimizer steps taken.
    public var step: Int
    public var adamStep: Int
    /// The loader's next batch.
    public var dataPosition: LoaderPosition
    /// Mean loss of each finished epoch (for "best" and for the summary).
    public var epochLosses: [Double]
    /// Threads of the run that wrote it: an exact resume needs the same count.
    public var threads: Int
    /// Data-parallel ranks of the run that wrote it (absent in format 1: one): an exact resume needs the same.
    public var worldSize: Int?
    /// The resolved config as YAML.
    public var config: String
}

extension RunState {
    /// The largest thread count a run uses (run.threads' bound).
    static let maxThreads = 4096
    /// The largest number of data-parallel ranks a state may record.
    static let maxWorldSize = 1 << 20
    /// Far above a real state.json: a resolved config and one loss per epoch.
    static let maxBytes = 16 << 20

    /// Checks every field on its own (ranges, the generator's state, finite losses); `file` names state.json.
    /// A hand-edited or damaged state is refused here, before anything resumes from it.
    public func validate(file: String) throws {
        func check(_ ok: Bool, _ field: String, _ value: Any, _ rule: String) throws {
            if !ok { throw RunState.invalid(file: file, "\(field) is \(value), \(rule)") }
        }
        try check(step >= 0, "step", step, "must be ≥ 0")
        try check(adamStep >= 0, "adamStep", adamStep, "must be ≥ 0")
        try check(dataPosition.epoch >= 0, "dataPosition.epoch", dataPosition.epoch, "must be ≥ 0")
        try check(dataPosition.batch >= 0, "dataPosition.batch", dataPosition.batch, "must be ≥ 0")
        try check((1...Self.maxThreads).contains(threads), "threads", threads, "must be in 1...\(Self.maxThreads)")
        if let worldSize { try check((1...Self.maxWorldSize).contains(worldSize), "worldSize", worldSize, "must be in 1...\(Self.maxWorldSize)") }
        if let bad = epochLosses.firstIndex(where: { !$0.isFinite }) {
            try check(false, "epochLosses[\(bad)]", epochLosses[bad], "must be finite")
        }
    }

    /// Checks the fields against the run they resume: the loader position inside `epochs` epochs of
    /// `stepsPerEpoch` optimizer steps (`accumSteps` batches each), and the step counts on that schedule.
    public func validate(file: String, epochs: Int, stepsPerEpoch: Int, accumSteps: Int) throws {
        try validate(file: file)
        let total = epochs * stepsPerEpoch, batches = stepsPerEpoch * accumSteps
        let (e, b) = (dataPosition.epoch, dataPosition.batch)
        guard e < epochs || (e == epochs && b == 0) else {
            throw RunState.invalid(file: file, "dataPosition epoch \(e) batch \(b) is past the end of the run's \(epochs) epochs (optim.epochs)")
        }
        guard b < batches, b % accumSteps == 0 else {
            throw RunState.invalid(file: file, "dataPosition.batch is \(b), must be a multiple of optim.accum_steps \(accumSteps) below the \(batches) batches of an epoch")
        }
        let position = e * stepsPerEpoch + b / accumSteps
        guard step == position else {
            throw RunState.invalid(file: file, "step is \(step) but dataPosition (epoch \(e), batch \(b)) is step \(position) of \(stepsPerEpoch) per epoch")
        }
        guard adamStep <= total else {
            throw RunState.invalid(file: file, "adamStep is \(adamStep), beyond the run's \(total) optimizer steps (\(epochs) epochs × \(stepsPerEpoch))")
        }
    }

    static func invalid(file: String, _ what: String) -> CheckpointError {
        CheckpointError(description: "\(file): \(what); the run state was edited or is damaged: restore it, resume from another ckpt-*/ directory of the run, or start a new run")
    }
}

public enum RunCheckpoint {
    static let prefix = "ckpt-"

    /// The checkpoint directory of `step` in run directory `dir`.
    public static func path(step: Int, in dir: String) -> String { dir + "/" + prefix + String(format: "%08d", step) }

    /// Writes `dir/ckpt-<step>/` atomically (temporary directory, fsync'd files, rename), then prunes old ones.
    @discardableResult
    public static func save(model: any PretrainingObjective, optimizer: AdamW, state: RunState, in dir: String,
                            keepLast: Int, best: Bool) throws -> String {
        let name = prefix + String(format: "%08d", state.step)
        let final = path(step: state.step, in: dir), tmp = dir + "/." + name + ".tmp-\(getpid())"
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
        let data = try JSONFile.read(path, what: "a run state", limit: RunState.maxBytes)
        let dec = JSONDecoder()
        let s: RunState
        do { s = try dec.decode(RunState.self, from: data) } catch let e as DecodingError {
            throw RunState.invalid(file: path, "not a valid run state: \(JSONFile.describe(e))")
        }
        guard RunState.readable.contains(s.format) else {
            throw CheckpointError(description: "\(path): run-state format \(s.format), this ropim reads formats \(RunState.readable.lowerBound)–\(RunState.readable.upperBound); use the ropim that wrote it")
        }
        try s.validate(file: path)
        // The config builds the model that model.safetensors is then read into: checked, and sized by that file.
        let config = try ConfigLoader.load(PretrainConfig.self, yaml: s.config, file: path + " (config)", defaults: PretrainConfig())
        do { try config.model.validate() } catch { throw CheckpointError(description: "\(path) (config): \(error)") }
        if FileManager.default.fileExists(atPath: ckpt + "/model.safetensors") {
            try CheckpointHeader.checkFits(config.model, weights: ckpt + "/model.safetensors", describedBy: path + " (config)")
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
        var filled = Set<String>()
        for t in moments {
            let isM = t.name.hasPrefix("m."), name = String(t.name.dropFirst(2))
            guard isM || t.name.hasPrefix("v."), let e = model.params.entry(name), e.ref.count == t.values.count, filled.insert(t.name).inserted else {
                throw CheckpointError(description: "\(ckpt)/optimizer.safetensors: '\(t.name)' does not match the model (m.<parameter> or v.<parameter>, once each)")
            }
            if let bad = Check.finite(t.values) {
                throw CheckpointError(description: "\(ckpt)/optimizer.safetensors: '\(t.name)': \(bad); the checkpoint is damaged: resume from another ckpt-*/ directory")
            }
            t.values.withUnsafeBufferPointer { ((isM ? m : v).data + e.ref.offset).update(from: $0.baseAddress!, count: e.ref.count) }
        }
        guard filled.count == 2 * model.params.entries.count else {
            throw CheckpointError(description: "\(ckpt)/optimizer.safetensors: \(filled.count) moment tensors for \(model.params.entries.count) parameters; the file is incomplete")
        }
        optimizer.load(step: state.adamStep, m: m.data, v: v.data)
    }
}
