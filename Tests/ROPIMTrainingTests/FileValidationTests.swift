// Files a user can hand-edit or damage, read as untrusted input (issue 14): an export's config.json (fault-13),
// weights holding NaN (fault-15), a resumable checkpoint's state.json (fault-18), and
// what `ropim import` makes of wrapped or incomplete weight files (bug-07). Each case's input is built here;
// seeded fuzz tests edit config.json and state.json at random and expect a clean error or a usable result,
// never a trap.

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

    /// `ropim export` of that checkpoint: the model directory enc-FORMAT/ (config.json, model.safetensors).
    func exported(_ format: ExportFormat = .beit) throws -> String {
        let ck = try checkpoint(relPos: format == .beit ? .shared : .none)
        let out = dir + "/enc-\(format.rawValue)"
        try Interchange.export(try ExportSource(path: ck), format: format, to: out)
        return out
    }

    /// A copy of the model directory `path` with tensors `tensors` (default: the same) and config.json edited by `edit`.
    func variant(_ name: String, of path: String, tensors: (([NamedTensor]) -> [NamedTensor])? = nil,
                 edit: (inout [String: Any]) -> Void = { _ in }) throws -> String {
        let out = dir + "/" + name
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + "/config.json"))) as! [String: Any]
        edit(&config)
        try JSONMutator.text(config).write(to: URL(fileURLWithPath: out + "/config.json"))
        var (ts, meta) = try SafeTensors.read(path + "/model.safetensors")
        if let tensors { ts = tensors(ts) }
        try SafeTensors.write(ts, metadata: meta, to: out + "/model.safetensors")
        return out
    }

    func assertThrows(_ body: @autoclosure () throws -> Any, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            for p in parts { XCTAssert("\(error)".contains(p), "'\(p)' not in: \(error)", file: file, line: line) }
        }
    }

    // MARK: an export's config.json (fault-13)

    /// fault-13's five bad descriptions and the other ways config.json is wrong: each a clean error naming the file
    /// and its key, the same through every reader (embed/knn's EncoderFile, --pretrained's PretrainCheckpoint, import).
    func testModelConfigValuesAreCheckedBeforeAnythingIsBuilt() throws {
        let enc = try exported()
        XCTAssertEqual(try EncoderFile(enc).config.depth, 2, "the unedited export loads")
        let cases: [(String, (inout [String: Any]) -> Void, [String])] = [
            ("mean_empty", { Self.set(&$0, "pretrained_cfg", "mean", [Float]()); Self.set(&$0, "pretrained_cfg", "std", [Float]()) },
             ["pretrained_cfg.mean/std needs 1 (or 1, shared) mean and std values for model_args.in_chans 1, got 0 and 0"]),
            ("std_zero", { Self.set(&$0, "pretrained_cfg", "std", [0.0]) }, ["mean/std needs finite means and positive finite stds"]),
            ("five_channels", { Self.set(&$0, "pretrained_cfg", "mean", [Float](repeating: 0.1, count: 5)); Self.set(&$0, "pretrained_cfg", "std", [Float](repeating: 0.2, count: 5)) }, ["got 5 and 5"]),
            ("img_huge", { Self.set(&$0, "model_args", "img_size", 1_000_000_000) }, ["model_args.img_size must be in 1...16384, got 1000000000"]),
            ("depth_string", { Self.set(&$0, "model_args", "depth", "six") }, ["model_args.depth is \"six\", expected an integer"]),
            ("ratio_string", { Self.set(&$0, "model_args", "mlp_ratio", "four") }, ["model_args.mlp_ratio is \"four\", expected a number"]),
            ("abs_pos_number", { Self.set(&$0, "model_args", "use_abs_pos_emb", 1) }, ["model_args.use_abs_pos_emb is 1, expected true or false"]),
            ("no_embed_dim", { Self.set(&$0, "model_args", "embed_dim", nil); $0["architecture"] = "beit_custom" },
             ["model_args.embed_dim is missing (the architecture name 'beit_custom' does not give it)"]),
            ("heads", { Self.set(&$0, "model_args", "num_heads", 3) }, ["model_args.embed_dim 16 is not divisible by model_args.num_heads 3"]),
            ("architecture", { $0["architecture"] = "resnet50" }, ["architecture 'resnet50' is not a timm BEiT or VisionTransformer name"]),
            ("swiglu", { Self.set(&$0, "model_args", "swiglu_mlp", true) }, ["model_args.swiglu_mlp is true, but ropim's encoder can only be built with false"]),
            ("mean_text", { Self.set(&$0, "pretrained_cfg", "mean", "0.5") }, ["'pretrained_cfg.mean' is not a list"]),
            ("no_architecture", { $0["architecture"] = nil }, ["'architecture' is missing"]),
            ("img_pair", { Self.set(&$0, "model_args", "img_size", [8, 9]) }, ["model_args.img_size is [8, 9], expected an integer"]),
            ("input_size", { Self.set(&$0, "pretrained_cfg", "input_size", [8, 8]) }, ["pretrained_cfg.input_size is [8, 8], expected [channels, height, width]"]),
            ("mean_huge", { Self.set(&$0, "pretrained_cfg", "mean", [1e39]) }, ["mean/std needs finite means and positive finite stds, got mean [inf]"]),
            ("huge_model", { Self.set(&$0, "model_args", "depth", 1024); Self.set(&$0, "model_args", "embed_dim", 4096); Self.set(&$0, "model_args", "num_heads", 16) },
             ["describes an encoder of", "parameters", "the description belongs to another file"]),
        ]
        for (name, edit, parts) in cases {
            let path = try variant(name, of: enc, edit: edit)
            let place = path + "/config.json"
            assertThrows(try EncoderFile(path), [place] + parts)
            assertThrows(try PretrainCheckpoint(path: path), [place] + parts)
            assertThrows(try EncoderImport.config(for: path, base: PretrainConfig()), [place] + parts)
        }
        // img_size as [S, S] is timm's other spelling; a config.json that is not text is named.
        XCTAssertEqual(try EncoderFile(try variant("img_square", of: enc, edit: { Self.set(&$0, "model_args", "img_size", [8, 8]) })).config.imgSize, 8)
        let binary = try variant("binary", of: enc)
        try Data([0xFF, 0xFE, 0x00]).write(to: URL(fileURLWithPath: binary + "/config.json"))
        assertThrows(try EncoderFile(binary), [binary + "/config.json", "not a valid timm model config"])
        // A model directory without its weights says so.
        try FileManager.default.removeItem(atPath: binary + "/model.safetensors")
        assertThrows(try EncoderFile(binary), [binary, "holds config.json but no model.safetensors"])
    }

    /// config[section][key] = value (nil removes the key).
    static func set(_ config: inout [String: Any], _ section: String, _ key: String, _ value: Any?) {
        var s = config[section] as! [String: Any]
        s[key] = value
        config[section] = s
    }

    /// Random edits of config.json (its JSON tree, or its text's bytes): a clean error naming the file, or an
    /// encoder that loads.
    func testFuzzModelConfig() throws {
        let enc = try exported()
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: enc + "/config.json")))
        var json = JSONMutator(rng: RNG(seed: FuzzSettings.seed).derived(stream: 11))
        var bytes = ByteMutator(rng: RNG(seed: FuzzSettings.seed).derived(stream: 12))
        let path = dir + "/trial"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: enc + "/model.safetensors", toPath: path + "/model.safetensors")
        let outcome = try fuzz("model config", trials: 600, stream: 13, make: { rng, edit in
            var text = [UInt8](JSONMutator.text(edit ? json.mutate(config) : config))
            if edit && rng.bernoulli(0.2) { text = bytes.mutate(text) }
            try writeQuickly(text, to: path + "/config.json")
            return path
        }, read: { path in
            let ef = try EncoderFile(path)
            XCTAssertEqual(ef.params.count, ef.config.encoderSize.parameters)
        }, clean: { error, path in
            error is CheckpointError && "\(error)".contains(path)
        })
        outcome.check("model config", seconds: 60)
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
        // An export (timm names, config.json) with one infinity.
        let enc = try exported(), weights = enc + "/model.safetensors"
        let (read, em) = try SafeTensors.read(weights)
        var et = read
        let j = et.firstIndex { $0.name == "cls_token" }!
        et[j].values[3] = .infinity
        try SafeTensors.write(et, metadata: em, to: weights)
        assertThrows(try EncoderFile(enc), [weights, "tensor 'cls_token': 1 of 16 values are NaN or infinite (the first at index 3)"])
    }

    // MARK: import (bug-07)

    /// bug-07: the architecture always comes from config.json; `module.`/`backbone.` wrappers are stripped; one
    /// missing tensor is reported as exactly that key; a file where nothing matches is refused even with --allow-missing.
    func testImportKeepsTheConfigsArchitectureAndNamesWhatIsMissing() throws {
        let enc = try exported()
        var preset = PretrainConfig()   // fmnist: depth 6, width 192; config.json says depth 2, width 16
        preset.run.seed = 1; preset.method.sketchSize = 4   // divides the export's 16 tokens
        func imported(_ file: String, allowMissing: Bool = false) throws -> (LoadReport, PretrainConfig) {
            let c = try EncoderImport.config(for: file, base: preset)
            let out = dir + "/out-\(UUID().uuidString)"
            return (try EncoderImport.run(file: file, config: c, output: out, allowMissing: allowMissing), c)
        }
        let (plain, pc) = try imported(enc)
        XCTAssertEqual([pc.model.depth, pc.model.embedDim], [2, 16])
        XCTAssert(plain.missing.filter { $0.hasPrefix("encoder.") }.isEmpty, "\(plain)")
        for wrapper in ["module.", "backbone.", "module.backbone."] {
            let wrapped = try variant("wrapped-\(wrapper)", of: enc, tensors: { $0.map { NamedTensor(name: wrapper + $0.name, shape: $0.shape, values: $0.values) } })
            let (r, c) = try imported(wrapped)
            XCTAssertEqual(c.model.depth, 2)
            XCTAssertEqual(r.loaded.count, plain.loaded.count, "\(wrapper): \(r)")
        }
        let missing = try variant("miss1", of: enc, tensors: { $0.filter { $0.name != "blocks.0.mlp.fc2.weight" } })
        assertThrows(try imported(missing), [missing, "lacks 1 encoder weight", "(model.depth 2, model.embed_dim 16): blocks.0.mlp.fc2.weight (loaded"])
        let (r, c) = try imported(missing, allowMissing: true)
        XCTAssertEqual(c.model.depth, 2, "--allow-missing keeps config.json's architecture")
        XCTAssertEqual(r.missing.filter { $0.hasPrefix("encoder.") }, ["encoder.blocks.0.mlp.fc2.weight"])
        let nothing = try variant("nothing", of: enc, tensors: { $0.map { NamedTensor(name: "net." + $0.name, shape: $0.shape, values: $0.values) } })
        assertThrows(try imported(nothing, allowMissing: true), [nothing, "none of its", "tensors (net.", "is an encoder weight"])
        // timm's fused qkv.bias must split into three equal parts.
        let vit = try exported(.timm)
        let cut = try variant("qkv", of: vit, tensors: { ts in
            ts.map { $0.name == "blocks.0.attn.qkv.bias" ? NamedTensor(name: $0.name, shape: [32], values: Array($0.values.prefix(32))) : $0 }
        })
        assertThrows(try EncoderFile(cut), [cut, "tensor 'blocks.0.attn.qkv.bias' has shape [32], not three equal parts"])
    }

    /// bug-15 / issue 18: model_args holds only arguments the class's constructor takes (timm passes them as written).
    func testExportedModelArgsAreConstructorArguments() throws {
        for (format, extra) in [(ExportFormat.timm, Set<String>()), (.beit, ["use_abs_pos_emb", "use_rel_pos_bias", "use_shared_rel_pos_bias"])] {
            let hub = try HubConfig.read(try exported(format) + "/config.json")
            XCTAssertEqual(Set(hub.modelArgs.keys), Set(["img_size", "patch_size", "in_chans", "embed_dim", "depth", "num_heads", "mlp_ratio",
                                                         "init_values", "qkv_bias", "global_pool"]).union(extra), "\(format)")
            XCTAssertEqual(hub.architecture, format == .beit ? "beit_base_patch16_224" : "vit_base_patch16_224")
            XCTAssertEqual(hub.numClasses, 0)
            XCTAssertEqual(hub.pretrainedCfg.inputSize, [1, 8, 8])
        }
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
            ({ $0["worldSize"] = 0 }, ["worldSize is 0, must be in 1...1048576"], false),
            ({ $0["format"] = 3 }, ["run-state format 3, this ropim reads formats 1–2"], false),
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
        try PretrainTrainer(config: c, dataset: data, compute: .serial).train(runDirectory: run, progress: Progress(interactive: false))
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
