// Weights in and out of a ParameterStore: a run checkpoint into its pre-training objective, or any named
// tensors into a store by name (with a prefix mapping), reporting missing, unexpected and mis-shaped keys;
// and the store's parameters as named tensors, the one snapshot every safetensors writer takes.

import Foundation
import ROPIMCore
import ROPIMKernels
import ROPIMNN
import ROPIMFiles
import ROPIMConfig

public struct CheckpointError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// What a by-name load matched.
public struct LoadReport: CustomStringConvertible {
    public var loaded: [String] = []
    /// Parameters of the model that the file did not provide (they keep their current values).
    public var missing: [String] = []
    /// Tensors in the file that the model has no parameter for.
    public var unexpected: [String] = []
    /// Tensors of the file resampled to the model's grid before loading (file names, with the change).
    public var resized: [String] = []
    public var description: String {
        // "N" or "N: a, b, …" (at most 8 names)
        func list(_ names: [String]) -> String {
            names.isEmpty ? "0" : "\(names.count): " + names.prefix(8).joined(separator: ", ") + (names.count > 8 ? ", …" : "")
        }
        return "loaded \(loaded.count) tensors; missing \(list(missing)); unexpected \(list(unexpected))"
            + (resized.isEmpty ? "" : "; resized \(list(resized))")
    }
}

extension ParameterStore {
    /// Copies tensors into parameters of the same name after `rename` (return nil to skip a tensor).
    /// A shape mismatch, or a NaN or infinite value, is an error naming the key; missing/unexpected keys are reported.
    public func load(_ tensors: [NamedTensor], source: String, rename: (String) -> String? = { $0 }) throws -> LoadReport {
        var report = LoadReport()
        var seen = Set<String>()
        for t in tensors {
            guard let name = rename(t.name), let e = entry(name) else { report.unexpected.append(t.name); continue }
            guard t.shape.reduce(1, *) == e.ref.count, t.shape == e.shape || t.shape.filter({ $0 != 1 }) == e.shape.filter({ $0 != 1 }) else {
                throw CheckpointError(description: "\(source): tensor '\(t.name)' has shape \(t.shape) but the model's '\(name)' is \(e.shape); the checkpoint was made for another architecture (compare its config with `--print-config`)")
            }
            try ParameterStore.checkFinite(t, source: source)
            t.values.withUnsafeBufferPointer { value(e.ref).update(from: $0.baseAddress!, count: e.ref.count) }
            report.loaded.append(name)
            seen.insert(name)
        }
        report.missing = entries.map(\.name).filter { !seen.contains($0) }
        return report
    }

    /// Named copies of every parameter (torch names and shapes, registration order) for safetensors.
    /// `buffer` reads another buffer laid out like the values (an AdamW moment); `prefix` goes before each name.
    public func namedTensors(of buffer: UnsafePointer<Float>? = nil, prefix: String = "") -> [NamedTensor] {
        entries.map { namedTensor($0, name: prefix + $0.name, of: buffer) }
    }

    /// A named copy of parameter `e` (or of its span of `buffer`), called `name` (its own name by default).
    public func namedTensor(_ e: Entry, name: String? = nil, of buffer: UnsafePointer<Float>? = nil) -> NamedTensor {
        let base = buffer ?? UnsafePointer(values.data)
        return NamedTensor(name: name ?? e.name, shape: e.shape, values: Array(UnsafeBufferPointer(start: base + e.ref.offset, count: e.ref.count)))
    }
}

extension ParameterStore {
    /// NaN or infinity in weights read from a file is an error naming the file and the tensor (as the file names it).
    static func checkFinite(_ t: NamedTensor, source: String) throws {
        if let bad = Check.finite(t.values) {
            throw CheckpointError(description: "\(source): tensor '\(t.name)': \(bad); the weights are damaged (a diverged run or an edited file): use an earlier checkpoint of the run")
        }
    }
}

/// A pre-training checkpoint written by `saveCheckpoint`: its config, step and a model holding its weights.
/// Any path `CheckpointPath` resolves loads: a run or ckpt-*/ directory, a fine-tuning run's
/// best.safetensors (its encoder), or an exported or foreign encoder (a timm model directory with config.json);
/// those load their encoder weights into a model whose decoder is freshly initialized (`hasDecoder` false).
public struct PretrainCheckpoint {
    /// The weights file read (after resolving a directory).
    public let path: String
    public let config: PretrainConfig
    public let step: Int
    public let model: any PretrainingObjective
    public let hasDecoder: Bool
    /// How the file was used, when the user should know (e.g. a fine-tuned classifier's encoder).
    public let note: String?

    public init(path given: String) throws {
        let (file, tensors, header) = try CheckpointHeader.read(given)
        path = file
        config = header.config
        step = header.step
        note = header.note
        model = try Objectives.make(vit: config.model, method: config.method)
        hasDecoder = header.layout == .pretrain
        guard hasDecoder else {
            var rng = RNG(seed: 0)   // what the file lacks (the decoder) keeps these draws; the encoder is loaded below
            model.initialize(rng: &rng)
            let report = try Interchange.importEncoder(path, into: model.params, prefix: "encoder.")
            let missing = report.missing.filter { $0.hasPrefix("encoder.") && !header.mayLack($0, prefix: "encoder.") }
                .map { String($0.dropFirst("encoder.".count)) }   // as the file names them
            guard missing.isEmpty else {
                throw CheckpointError(description: "\(path): missing encoder weights (\(missing.prefix(6).joined(separator: ", "))\(missing.count > 6 ? ", …" : "")); the file's architecture does not match its config")
            }
            return
        }
        let report = try model.params.load(tensors, source: path)
        guard report.missing.isEmpty, report.unexpected.isEmpty else {
            throw CheckpointError(description: "\(path): does not match its own config: \(report)")
        }
    }
}
