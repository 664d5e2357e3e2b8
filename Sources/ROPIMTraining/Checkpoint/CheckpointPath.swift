// The one rule for "which checkpoint does this path name", used by every command and loader that takes a
// checkpoint (pretrain --resume, finetune/linprobe/knn --pretrained, visualize, embed, export, inspect):
//   a file                              → that file (checkpoint.safetensors, best.safetensors, an export …)
//   a ckpt-*/ directory (state.json)    → its model.safetensors
//   a model directory (config.json)     → its model.safetensors (timm / Hugging Face Hub layout, `ropim export`)
//   a run directory with a final one    → its checkpoint.safetensors
//   a run directory without a final one → the model.safetensors of its newest complete ckpt-*/
// Anything else is an error that says what the path holds and what to pass instead.

import Foundation

public struct CheckpointPath: Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// A weights file named directly.
        case file
        /// A resumable checkpoint directory (ckpt-*/ with state.json).
        case checkpointDirectory = "checkpoint directory"
        /// A timm / Hub model directory: config.json and model.safetensors.
        case modelDirectory = "model directory"
        /// A finished run directory (it holds checkpoint.safetensors).
        case runDirectory = "run directory"
        /// A run directory that holds resumable checkpoints but no final one yet.
        case unfinishedRun = "unfinished run directory"
    }

    /// The path as the user gave it.
    public let given: String
    public let kind: Kind
    /// The weights file to read.
    public let file: String
    /// The resumable checkpoint (ckpt-*/) this path names: the directory itself, or a run directory's newest.
    public let resumable: String?

    /// What to pass, for error messages.
    public static let accepted = "a run directory (its final checkpoint.safetensors, else its newest ckpt-*/), "
        + "a ckpt-*/ directory, a model directory (config.json + model.safetensors, as `ropim export` and timm write), "
        + "or a .safetensors file (checkpoint.safetensors, best.safetensors)"

    /// Resolves `path` by the rule at the top of this file.
    public static func resolve(_ path: String) throws -> CheckpointPath {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CheckpointError(description: "\(path): checkpoint not found (no such file or directory); pass \(accepted)")
        }
        let dir = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        guard isDir.boolValue else { return CheckpointPath(given: path, kind: .file, file: path, resumable: nil) }
        if fm.fileExists(atPath: dir + "/state.json") {
            let file = dir + "/model.safetensors"
            guard fm.fileExists(atPath: file) else {
                throw CheckpointError(description: "\(dir): holds state.json but no model.safetensors, so the checkpoint is incomplete; pass another ckpt-*/ directory of the run, or the run directory")
            }
            return CheckpointPath(given: path, kind: .checkpointDirectory, file: file, resumable: dir)
        }
        if fm.fileExists(atPath: dir + "/" + HubConfig.fileName) {
            let file = dir + "/" + HubConfig.weightsName
            guard fm.fileExists(atPath: file) else {
                throw CheckpointError(description: "\(dir): holds \(HubConfig.fileName) but no \(HubConfig.weightsName); ropim reads a model directory's weights as safetensors (convert a pytorch_model.bin with safetensors' save_file)")
            }
            return CheckpointPath(given: path, kind: .modelDirectory, file: file, resumable: nil)
        }
        let newest = RunCheckpoint.complete(in: dir).last
        if fm.fileExists(atPath: dir + "/checkpoint.safetensors") {
            return CheckpointPath(given: path, kind: .runDirectory, file: dir + "/checkpoint.safetensors", resumable: newest)
        }
        if let newest {
            return CheckpointPath(given: path, kind: .unfinishedRun, file: newest + "/model.safetensors", resumable: newest)
        }
        let files = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".safetensors") }.sorted()
        let found = files.isEmpty ? "no .safetensors file and no ckpt-*/ directory"
            : "no checkpoint.safetensors and no ckpt-*/, but \(files.prefix(4).joined(separator: ", ")) (pass \(dir)/\(files[0]) to use it)"
        throw CheckpointError(description: "\(dir): a directory with \(found); pass \(accepted)")
    }

    /// The resumable checkpoint directory `path` names (for --resume): a ckpt-*/ directory, or a run
    /// directory's newest complete one.
    public static func resumable(_ path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else {
            throw CheckpointError(description: "\(path): no such checkpoint directory; --resume takes a run directory or one of its ckpt-*/ directories")
        }
        guard let r = try? resolve(path).resumable else {
            throw CheckpointError(description: "\(path): holds no complete resumable checkpoint (ckpt-*/state.json); start a new run instead")
        }
        return r
    }
}
