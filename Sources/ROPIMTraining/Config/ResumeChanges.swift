// What a resumed pre-training run may change from the config it was saved with. How long it runs, where
// the data is and how it runs (threads, logging, checkpoint cadence, the k-NN monitor) may change and are
// applied; anything that defines the run (model, method, optimizer numbers, data selection and
// augmentation, seed) may not: resuming with a different value would silently train something else.
// `optim.max_steps` belongs to one invocation, not to the run. A data-parallel run may resume with another
// number of ranks when the global batch stays the same (optim.batch_size is per rank, so it changes with
// the ranks): the schedule and the data stream are then the same, only the sums are split differently.

import Foundation

public enum ResumeChanges {
    /// Keys a resumed run may change.
    public static let allowed: Set<String> = [
        "optim.epochs", "optim.max_steps",
        "data.path", "data.cache", "data.workers", "data.prefetch", "data.skip_bad",
        "run.threads", "run.output", "run.log_every", "run.save_every", "run.keep_last",
        "run.knn_every", "run.knn_train_subset", "run.knn_test_subset", "run.knn_k", "run.knn_temperature",
    ]

    /// The changes from `saved` to `asked`, one line each ("optim.epochs: 2 → 4 (…)"), in key order.
    /// Throws, naming every key, when a key outside `allowed` differs. `savedWorld` and `askedWorld` are the
    /// data-parallel ranks that saved the run and that resume it.
    public static func check(saved: PretrainConfig, asked: PretrainConfig, savedWorld: Int = 1, askedWorld: Int = 1) throws -> [String] {
        let old = try flatten(saved), new = try flatten(asked)
        let changed = Set(old.keys).union(new.keys).filter { old[$0] != new[$0] }.sorted()
        let savedGlobal = saved.optim.globalBatch(worldSize: savedWorld), askedGlobal = asked.optim.globalBatch(worldSize: askedWorld)
        if savedWorld != askedWorld && savedGlobal != askedGlobal {
            let perRank = Double(savedGlobal) / Double(askedWorld * asked.optim.accumSteps)
            throw TrainingError(description: "the run was saved by \(savedWorld) rank\(savedWorld == 1 ? "" : "s") with a global batch of \(savedGlobal) images per step; \(askedWorld) rank\(askedWorld == 1 ? "" : "s") × optim.batch_size \(asked.optim.batchSize) × optim.accum_steps \(asked.optim.accumSteps) would make it \(askedGlobal). "
                + (perRank == perRank.rounded() ? "Resume with --batch-size \(Int(perRank)) to keep it, or with \(savedWorld) rank\(savedWorld == 1 ? "" : "s")." : "Resume with \(savedWorld) rank\(savedWorld == 1 ? "" : "s") (mpirun -np \(savedWorld)), or a rank count that divides \(savedGlobal / asked.optim.accumSteps)."))
        }
        let refused = changed.filter { !allowed.contains($0) && !($0 == "optim.batch_size" && savedWorld != askedWorld) }
        guard refused.isEmpty else {
            let list = refused.map { "\($0) (saved \(old[$0] ?? "-"), asked \(new[$0] ?? "-"))" }.joined(separator: ", ")
            throw TrainingError(description: "a resumed run keeps the settings it was started with; these differ: \(list). Resume without changing them, or start a new run with another --output. A resumed run may change only: \(allowed.sorted().joined(separator: ", "))")
        }
        let ranks = savedWorld == askedWorld ? [] : ["data-parallel ranks: \(savedWorld) → \(askedWorld) (the same global batch of \(savedGlobal) images per step; the gradient sums are split differently: losses differ in the last bits)"]
        return ranks + changed.filter { $0 != "run.output" && $0 != "optim.max_steps" }.map { key in
            let effect: String
            switch key {
            case "optim.epochs":
                effect = " (the warm-up + cosine schedule now spans \(asked.optim.epochs) epochs, so learning rates from the resumed step on follow the new plan)"
            case "data.path", "data.cache":
                effect = " (it must hold the same images in the same order for the data stream to continue exactly)"
            case "run.threads":
                effect = " (sums split over another thread count: losses differ in the last bits)"
            default: effect = ""
            }
            return "\(key): \(old[key] ?? "-") → \(new[key] ?? "-")\(effect)"
        }
    }

    /// "section.key" (snake_case, as in YAML) → the value as JSON text.
    static func flatten(_ c: PretrainConfig) throws -> [String: String] {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = .sortedKeys
        guard let root = try JSONSerialization.jsonObject(with: enc.encode(c)) as? [String: Any] else { return [:] }
        var out: [String: String] = [:]
        func walk(_ v: Any, _ path: String) {
            if let d = v as? [String: Any] {
                for (k, x) in d { walk(x, path.isEmpty ? k : path + "." + k) }
            } else if let data = try? JSONSerialization.data(withJSONObject: [v], options: [.sortedKeys, .withoutEscapingSlashes]) {
                out[path] = String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
            }
        }
        walk(root, "")
        return out
    }
}
