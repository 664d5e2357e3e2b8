// Files a user can hand-edit or damage, read as untrusted input (issue 14): an export's sidecar (fault-13),
// weights holding NaN (fault-15), a resumable checkpoint's state.json (fault-18), and what `ropim import`
// makes of wrapped or incomplete weight files (bug-07). Each case's input is built here; seeded fuzz tests
// edit the sidecar and state.json at random and expect a clean error or a usable result, never a trap.

import Foundation
import XCTest
import ROPIMKernels
import ROPIMData
import ROPIMNN
import ROPIMCore
import ROPIMFiles
import ROPIMConfig
import ROPIMTestSupport
@testable import ROPIMTraining

final class FileValidationTests: ScratchTestCase {
    /// A pre-training checkpoint of ResumeTests' tiny model (depth 2, width 16, 8 px / patch 2, one channel).
    func checkpoint(_ name: String = "ck.safetensors", relPos: RelativePositionMode = .shared) throws -> String {
        var c = ResumeTests.config()
        c.model.relPosBias = relPos
        if relPos == .none { c.model.posEmbed = .learned }
        let model = try Objectives.make(vit: c.model, method: c.method)
        var rng = RNG(seed: 1)
        model.initialize(rng: &rng)
        let path = dir + "/" + name
        try saveCheckpoint(model: model, config: c, step: 3, to: path)
        return path
    }

    /// `ropim export` of that checkpoint: enc.safetensors (sidecar in its metadata) and enc.json.
    func exported(_ format: ExportFormat = .beit) throws -> String {
        let ck = try checkpoint(relPos: format == .beit ? .shared : .none)
        let out = dir + "/enc-\(format.rawValue).safetensors"
        _ = try Interchange.export(try PretrainCheckpoint(path: ck), source: ck, format: format, to: out)
        return out
    }

    /// A copy of the weights `path` with tensors `tensors` (default: the same) and the sidecar edited by `edit`,
    /// stored in the metadata, or (`beside`) only in NAME.json.
    func variant(_ name: String, of path: String, beside: Bool = false, tensors: (([NamedTensor]) -> [NamedTensor])? = nil,
                 edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        var (ts, meta) = try SafeTensors.read(path)
        var car = try JSONSerialization.jsonObject(with: Data((meta["sidecar"] ?? "{}").utf8)) as! [String: Any]
        edit(&car)
        let text = String(decoding: JSONMutator.text(car), as: UTF8.self)
        let out = dir + "/" + name + ".safetensors"
        meta["sidecar"] = beside ? nil : text
        if beside { try text.write(toFile: Interchange.sidecarPath(out), atomically: true, encoding: .utf8) }
        if let tensors { ts = tensors(ts) }
        try SafeTensors.write(ts, metadata: meta, to: out)
        return out
    }

    func assertThrows(_ body: @autoclosure () throws -> Any, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            for p in parts { XCTAssert("\(error)".contains(p), "'\(p)' not in: \(error)", file: file, line: line) }
        }
    }

    // MARK: the export sidecar (fault-13)

    /// fault-13's five sidecars and the other ways one is wrong: each a clean error naming the sidecar and its key,
    /// the same through every reader (embed/knn's EncoderFile, --pretrained's PretrainCheckpoint, import).
    func testSidecarValuesAreCheckedBeforeAnythingIsBuilt() throws {
        let enc = try exported()
        XCTAssertEqual(try EncoderFile(enc).config.depth, 2, "the unedited export loads")
        let cases: [(String, (inout [String: Any]) -> Void, [String])] = [
            ("mean_empty", { $0["mean"] = [Float](); $0["std"] = [Float]() }, ["mean/std needs 1 (or 1, shared) mean and std values for timm_kwargs.in_chans 1, got 0 and 0"]),
            ("std_zero", { $0["std"] = [0.0] }, ["mean/std needs finite means and positive finite stds"]),
            ("five_channels", { $0["mean"] = [Float](repeating: 0.1, count: 5); $0["std"] = [Float](repeating: 0.2, count: 5) }, ["got 5 and 5"]),
            ("img_huge", { Self.kwargs(&$0, "img_size", 1_000_000_000) }, ["timm_kwargs.img_size must be in 1...16384, got 1000000000"]),
            ("depth_string", { Self.kwargs(&$0, "depth", "six") }, ["timm_kwargs.depth is \"six\", expected an integer"]),
            ("ratio_string", { Self.kwargs(&$0, "mlp_ratio", "four") }, ["timm_kwargs.mlp_ratio is \"four\", expected a number"]),
            ("abs_pos_number", { Self.kwargs(&$0, "use_abs_pos_emb", 1) }, ["timm_kwargs.use_abs_pos_emb is 1, expected true or false"]),
            ("no_embed_dim", { Self.kwargs(&$0, "embed_dim", nil) }, ["timm_kwargs.embed_dim is missing"]),
            ("heads", { Self.kwargs(&$0, "num_heads", 3) }, ["timm_kwargs.embed_dim 16 is not divisible by timm_kwargs.num_heads 3"]),
            ("format", { $0["format"] = "vit" }, ["format 'vit' is not one of beit, timm-vit"]),
            ("swiglu", { Self.kwargs(&$0, "swiglu_mlp", true) }, ["timm_kwargs.swiglu_mlp is true, but ropim's encoder can only be built with false"]),
            ("mean_text", { $0["mean"] = "0.5" }, ["'mean' is not a list"]),
            ("no_kwargs", { $0["timm_kwargs"] = nil }, ["'timm_kwargs' is missing"]),
            ("img_pair", { Self.kwargs(&$0, "img_size", [8, 8]) }, ["'timm_kwargs.img_size' is not a single value (a number, true or false, a string or null)"]),
            ("mean_huge", { $0["mean"] = [1e39] }, ["mean/std needs finite means and positive finite stds, got mean [inf]"]),
            ("huge_model", { Self.kwargs(&$0, "depth", 1024); Self.kwargs(&$0, "embed_dim", 4096); Self.kwargs(&$0, "num_heads", 16) },
             ["describes an encoder of", "parameters", "the description belongs to another file"]),
        ]
        for (name, edit, parts) in cases {
            for beside in [false, true] {
                let path = try variant(name + (beside ? "-json" : ""), of: enc, beside: beside, edit: edit)
                let place = beside ? Interchange.sidecarPath(path) : path + " (the sidecar in its metadata)"
                assertThrows(try EncoderFile(path), [place] + parts)
                assertThrows(try PretrainCheckpoint(path: path), [place] + parts)
                assertThrows(try EncoderImport.config(for: path, base: PretrainConfig()), [place] + parts)
            }
        }
        // A hand-written sidecar may leave out source and step; a sidecar file that is not text is named.
        XCTAssertNoThrow(try EncoderFile(try variant("no_source", of: enc, beside: true, edit: { $0["source"] = nil; $0["step"] = nil })))
        let binary = try variant("binary", of: enc, beside: true)
        try Data([0xFF, 0xFE, 0x00]).write(to: URL(fileURLWithPath: Interchange.sidecarPath(binary)))
        assertThrows(try EncoderFile(binary), [Interchange.sidecarPath(binary), "UTF-8"])
    }

    static func kwargs(_ car: inout [String: Any], _ key: String, _ value: Any?) {
        var kw = car["timm_kwargs"] as! [String: Any]
        kw[key] = value
        car["timm_kwargs"] = kw
    }

    /// Random edits of the sidecar (its JSON, in the metadata or beside the file, or its text's bytes): a clean
    /// error naming the file, or an encoder that loads.
    func testFuzzSidecar() throws {
        let enc = try exported()
        let raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: enc)))
        let headerEnd = 8 + Int(raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: Data(raw[8..<headerEnd])) as! [String: Any]
        let meta = header["__metadata__"] as! [String: String]
        let car = try JSONSerialization.jsonObject(with: Data(meta["sidecar"]!.utf8))
        var json = JSONMutator(rng: RNG(seed: FuzzSettings.seed).derived(stream: 11))
        var bytes = ByteMutator(rng: RNG(seed: FuzzSettings.seed).derived(stream: 12))
        let path = dir + "/trial.safetensors"
        let outcome = try fuzz("sidecar", trials: 600, stream: 13, make: { rng, edit in
            var text = [UInt8](JSONMutator.text(edit ? json.mutate(car) : car))
            if edit && rng.bernoulli(0.2) { text = bytes.mutate(text) }
            let beside = rng.bernoulli(0.5)
            var (h, m) = (header, meta)
            m["sidecar"] = beside ? nil : String(decoding: text, as: UTF8.self)
            h["__metadata__"] = m
            try writeQuickly(safetensorsBytes(header: h, data: Array(raw[headerEnd...])), to: path)
            try? FileManager.default.removeItem(atPath: Interchange.sidecarPath(path))
            if beside { try writeQuickly(text, to: Interchange.sidecarPath(path)) }
            return path
        }, read: { path in
            let ef = try EncoderFile(path)
            XCTAssertEqual(ef.params.count, ef.config.encoderSize.parameters)
        }, clean: { error, path in
            error is CheckpointError && [path, Interchange.sidecarPath(path)].contains { "\(error)".contains($0) }
        })
        outcome.check("sidecar", seconds: 60)
    }

    // MARK: NaN in weights (fault-15)

    /// A checkpoint holding NaN (fault-15 poisons cls_token) is refused by every reader, naming file and tensor.
    func testNonFiniteWeightsAreAnErrorNamingFileAndTensor() throws {
        let ck = try checkpoint()
        var (ts, meta) = try SafeTensors.read(ck)
        let i = ts.firstIndex { $0.name == "encoder.cls_token" }!
        ts[i].values = [Float](repeating: .nan, count: ts[i].values.count)
        let poisoned = dir + "/poisoned.safetensors"
        try SafeTensors.write(ts, metadata: meta, to: poisoned)
        let parts = [poisoned, "tensor 'encoder.cls_token': 16 of 16 values are NaN or infinite"]
        assertThrows(try PretrainCheckpoint(path: poisoned), parts)
        assertThrows(try EncoderFile(poisoned), parts)
        // An export (timm names, sidecar) with one infinity.
        let enc = try exported()
        let (read, em) = try SafeTensors.read(enc)
        var et = read
        let j = et.firstIndex { $0.name == "cls_token" }!
        et[j].values[3] = .infinity
        try SafeTensors.write(et, metadata: em, to: enc)
        assertThrows(try EncoderFile(enc), [enc, "tensor 'cls_token': 1 of 16 values are NaN or infinite (the first at index 3)"])
    }

    // MARK: import (bug-07)

    /// bug-07: the architecture always comes from the sidecar; `module.`/`backbone.` wrappers are stripped; one
    /// missing tensor is reported as exactly that key; a file where nothing matches is refused even with --allow-missing.
    func testImportKeepsTheSidecarsArchitectureAndNamesWhatIsMissing() throws {
        let enc = try exported()
        var preset = PretrainConfig()   // fmnist: depth 6, width 192; the sidecar says depth 2, width 16
        preset.run.seed = 1; preset.method.sketchSize = 4   // divides the sidecar's 16 tokens
        func imported(_ file: String, allowMissing: Bool = false) throws -> (LoadReport, PretrainConfig) {
            let c = try EncoderImport.config(for: file, base: preset)
            let out = dir + "/out-\(UUID().uuidString)"
            return (try EncoderImport.run(file: file, config: c, output: out, allowMissing: allowMissing), c)
        }
        let (plain, pc) = try imported(enc)
        XCTAssertEqual([pc.model.depth, pc.model.embedDim], [2, 16])
        XCTAssert(plain.missing.filter { $0.hasPrefix("encoder.") }.isEmpty, "\(plain)")
        for wrapper in ["module.", "backbone.", "module.backbone."] {
            let wrapped = try variant("wrapped-\(wrapper)", of: enc, beside: true, tensors: { $0.map { NamedTensor(name: wrapper + $0.name, shape: $0.shape, values: $0.values) } })
            let (r, c) = try imported(wrapped)
            XCTAssertEqual(c.model.depth, 2)
            XCTAssertEqual(r.loaded.count, plain.loaded.count, "\(wrapper): \(r)")
        }
        let missing = try variant("miss1", of: enc, beside: true, tensors: { $0.filter { $0.name != "blocks.0.mlp.fc2.weight" } })
        assertThrows(try imported(missing), [missing, "lacks 1 encoder weight", "(model.depth 2, model.embed_dim 16): blocks.0.mlp.fc2.weight (loaded"])
        let (r, c) = try imported(missing, allowMissing: true)
        XCTAssertEqual(c.model.depth, 2, "--allow-missing keeps the sidecar's architecture")
        XCTAssertEqual(r.missing.filter { $0.hasPrefix("encoder.") }, ["encoder.blocks.0.mlp.fc2.weight"])
        let nothing = try variant("nothing", of: enc, beside: true, tensors: { $0.map { NamedTensor(name: "net." + $0.name, shape: $0.shape, values: $0.values) } })
        assertThrows(try imported(nothing, allowMissing: true), [nothing, "none of its", "tensors (net.", "is an encoder weight"])
        // timm-vit's fused qkv.bias must split into three equal parts.
        let vit = try exported(.timmVit)
        let cut = try variant("qkv", of: vit, beside: true, tensors: { ts in
            ts.map { $0.name == "blocks.0.attn.qkv.bias" ? NamedTensor(name: $0.name, shape: [32], values: Array($0.values.prefix(32))) : $0 }
        })
        assertThrows(try EncoderFile(cut), [cut, "tensor 'blocks.0.attn.qkv.bias' has shape [32], not three equal parts"])
    }

    /// bug-15: the timm-vit sidecar holds only arguments timm's VisionTransformer takes.
    func testTimmVitSidecarHasNoArgumentTimmRejects() throws {
        let car = try JSONDecoder().decode(ExportSidecar.self, from: Data(contentsOf: URL(fileURLWithPath: Interchange.sidecarPath(try exported(.timmVit)))))
        XCTAssertEqual(car.timmClass, "timm.models.vision_transformer.VisionTransformer")
        XCTAssertNil(car.timmKwargs["norm_layer_eps"])
        XCTAssertEqual(Set(car.timmKwargs.keys), ["img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_ratio",
                                                 "num_classes", "init_values", "qkv_bias", "global_pool"])
    }

    // MARK: state.json (fault-18)

    /// A run stopped at step 4 (ckpt-00000004), its state.json edited as fault-18 does and in the other fields:
    /// each a clean error naming the field and the file, from `state(at:)` or, against the schedule, on resume.
    func testEditedRunStateIsRefusedNamingFieldAndFile() throws {
        let (c, data, ckpt, original) = try stoppedRun()
        let file = ckpt + "/state.json"
        XCTAssertNoThrow(try PretrainTrainer(config: c, dataset: data, compute: .serial, resume: ckpt))
        // (edit, message parts, whether only the run's schedule shows it: then only resuming checks it)
        let cases: [((inout [String: Any]) -> Void, [String], Bool)] = [
            ({ Self.position(&$0, "epoch", 5) }, ["dataPosition epoch 5 batch 4 is past the end of the run's 2 epochs"], true),
            ({ Self.position(&$0, "epoch", 1 << 62) }, ["is past the end"], true),
            ({ $0["adamStep"] = 1000 }, ["adamStep is 1000, beyond the run's 12 optimizer steps"], true),
            ({ $0["step"] = 3 }, ["step is 3 but dataPosition (epoch 0, batch 4) is step 4"], true),
            ({ Self.position(&$0, "batch", 6) }, ["dataPosition.batch is 6, must be a multiple of optim.accum_steps 1 below the 6 batches"], true),
            ({ $0["step"] = -5; $0["adamStep"] = -5 }, ["step is -5, must be ≥ 0"], false),
            ({ $0["adamStep"] = -1 }, ["adamStep is -1, must be ≥ 0"], false),
            ({ Self.position(&$0, "batch", -1) }, ["dataPosition.batch is -1, must be ≥ 0"], false),
            ({ $0["threads"] = 0 }, ["threads is 0, must be in 1...4096"], false),
            ({ $0["corruptionRNG"] = ["state": [0, 0, 0, 0]] }, ["corruptionRNG.state is [0, 0, 0, 0], must be 4 numbers, not all 0"], false),
            ({ $0["corruptionRNG"] = ["state": [1, 2]] }, ["corruptionRNG.state is [1, 2]"], false),
            ({ $0["epochLosses"] = [-1e308] }, ["not a valid run state: the text is not valid JSON"], false),
            ({ $0["config"] = "model:\n  depth: 1000000\n" }, ["state.json (config): model.depth must be in 1...1024"], false),
            ({ $0["config"] = "model:\n  depth: 1024\n  embed_dim: 4096\n  num_heads: 16\n" }, ["describes an encoder of"], false),
        ]
        for (edit, parts, scheduleOnly) in cases {
            var s = try JSONSerialization.jsonObject(with: original) as! [String: Any]
            edit(&s)
            // -1e308 stands for a loss JSON cannot write (-inf)
            let text = String(decoding: JSONMutator.text(s), as: UTF8.self).replacingOccurrences(of: "-1e+308", with: "-1e999")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            assertThrows(try PretrainTrainer(config: c, dataset: data, compute: .serial, resume: ckpt), [file] + parts)
            if !scheduleOnly {
                assertThrows(try RunCheckpoint.state(at: ckpt), [file] + parts)
                assertThrows(try CheckpointReport.lines(ckpt), [file] + parts)   // `ropim inspect`
            }
        }
        // A state.json that is a folder, or far larger than any run state, is refused before it is read.
        try FileManager.default.removeItem(atPath: file)
        try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: false)
        assertThrows(try RunCheckpoint.state(at: ckpt), [file, "not a regular file of at most 16777216 bytes, so not a run state"])
        try FileManager.default.removeItem(atPath: file)
        try Data(count: (16 << 20) + 1).write(to: URL(fileURLWithPath: file))
        assertThrows(try RunCheckpoint.state(at: ckpt), [file, "not a regular file of at most"])
        // JSON cannot hold an infinite loss, but a RunState made in code can.
        try original.write(to: URL(fileURLWithPath: file))
        var state = try RunCheckpoint.state(at: ckpt)
        state.epochLosses = [0.5, .infinity]
        assertThrows(try state.validate(file: file), [file, "epochLosses[1] is inf, must be finite"])
    }

    /// ResumeTests' run stopped by optim.max_steps at step 4 (6 steps per epoch): its config and data, the
    /// resumable checkpoint ckpt-00000004 and that checkpoint's state.json as written.
    func stoppedRun() throws -> (PretrainConfig, ImageDataset, String, Data) {
        var c = ResumeTests.config(); c.optim.maxSteps = 4; c.data.workers = 0
        let data = try c.loadDataset(compute: .serial)
        let run = dir + "/run"
        try RunDirectory.create(run)
        try PretrainTrainer(config: c, dataset: data, compute: .serial).train(runDirectory: run, progress: Progress())
        let ckpt = run + "/ckpt-00000004"
        return (c, data, ckpt, try Data(contentsOf: URL(fileURLWithPath: ckpt + "/state.json")))
    }

    static func position(_ s: inout [String: Any], _ key: String, _ value: Int) {
        var p = s["dataPosition"] as! [String: Any]
        p[key] = value
        s["dataPosition"] = p
    }

    /// Random edits of state.json (its JSON or its bytes): a clean error naming the checkpoint, or a trainer that resumes.
    func testFuzzRunState() throws {
        let (_, data, ckpt, original) = try stoppedRun()
        let file = ckpt + "/state.json"
        let state = try JSONSerialization.jsonObject(with: original)
        var json = JSONMutator(rng: RNG(seed: FuzzSettings.seed).derived(stream: 21))
        var bytes = ByteMutator(rng: RNG(seed: FuzzSettings.seed).derived(stream: 22))
        let outcome = try fuzz("state.json", trials: 600, stream: 23, make: { rng, edit in
            var text = [UInt8](edit ? JSONMutator.text(json.mutate(state)) : original)
            if edit && rng.bernoulli(0.2) { text = bytes.mutate(text) }
            try writeQuickly(text, to: file)
            return ckpt
        }, read: { ckpt in
            let s = try RunCheckpoint.state(at: ckpt)
            var resumed = try ConfigLoader.load(PretrainConfig.self, yaml: s.config, file: ckpt + "/state.json", defaults: PretrainConfig())
            resumed.data.workers = 0
            _ = try PretrainTrainer(config: resumed, dataset: data, compute: .serial, resume: ckpt)
        }, clean: { error, ckpt in
            // Errors about the data that the edited config names (too few images, …) are clean but name the data.
            "\(error)".contains(ckpt) || error is DataError || error is TrainingError
        })
        outcome.check("state.json", seconds: 60)
    }
}
