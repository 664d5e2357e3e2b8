// ConfigLoader: YAML and --set overrides over Codable defaults, and the error messages users will see.
import Foundation
import XCTest
@testable import ROPIMConfig

private struct TModel: Codable, Equatable {
    var embedDim = 192
    var depth = 12
    var dropPathRate = 0.1
    var posEmbed = "none"
}

private struct TConfig: Codable, Equatable {
    var model = TModel()
    var lr: Double = 1e-3
    var epochs = 100
    var name = "x"
    var betas: [Double] = [0.9, 0.95]
}

private enum Pooling: String, Codable, CaseIterable { case cls, mean }

private struct TStep: Codable, Equatable {
    var op = "flip"
    var p: Float = 0.5
}

private struct TExtras: Codable, Equatable {
    var pooling = Pooling.cls
    var steps = [TStep()]
    var tags: [String] = []
    var amp = false
    var scale: Float = 0.1
    var warmupLR = 1e-6
}

final class ConfigLoaderTests: XCTestCase {
    private func load(_ yaml: String) throws -> TConfig {
        try ConfigLoader.load(TConfig.self, yaml: yaml, file: "config.yaml", defaults: TConfig())
    }

    /// The error `body` throws, as a ConfigError.
    private func error(_ body: () throws -> Any) -> ConfigError? {
        do {
            _ = try body()
            XCTFail("expected a ConfigError")
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            XCTFail("expected a ConfigError, got \(error)")
            return nil
        }
    }

    private func assertMentions(_ error: ConfigError?, _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        guard let error else { return }
        for part in parts {
            XCTAssertTrue(error.description.contains(part), "'\(part)' missing from: \(error.description)", file: file, line: line)
        }
    }

    // MARK: Merging

    func testEmptyYAMLGivesDefaults() throws {
        XCTAssertEqual(try load(""), TConfig())
        XCTAssertEqual(try load("# only a comment\n\n"), TConfig())
        XCTAssertEqual(try load("---\n"), TConfig())
    }

    func testPartialYAMLOverridesOnlyItsKeys() throws {
        let config = try load("""
            model:
              embed_dim: 384   # snake_case key → embedDim
              drop_path_rate: 0.2
            lr: 1e-3
            epochs: 300
            name: "run 1"
            betas: [0.8]
            """)
        var expected = TConfig()
        expected.model.embedDim = 384
        expected.model.dropPathRate = 0.2
        expected.epochs = 300
        expected.name = "run 1"
        expected.betas = [0.8]  // sequences replace, not merge
        XCTAssertEqual(config, expected)
        XCTAssertEqual(config.model.depth, 12)
        XCTAssertEqual(config.model.posEmbed, "none")
    }

    func testScalarsFollowTheCoreSchema() throws {
        XCTAssertEqual(try load("lr: 5e-4").lr, 5e-4)
        XCTAssertEqual(try load("lr: 1").lr, 1.0)  // an integer is a fine number
        XCTAssertEqual(try load("epochs: 1_000").epochs, 1000)
        XCTAssertEqual(try load("name: 42").name, "42")  // any scalar's text is a fine string
        XCTAssertEqual(try load("name: yes").name, "yes")
        XCTAssertEqual(try load("name: '1e-3'").name, "1e-3")
        XCTAssertEqual(try load("model:\n").model, TModel())  // a mapping with everything commented out
        XCTAssertEqual(try load("betas: []").betas, [])
    }

    func testEnumsFloatsAndListsOfStructs() throws {
        let extras = try ConfigLoader.load(TExtras.self, yaml: """
            pooling: mean
            steps:
              - {op: crop, p: 1}
              - op: blur
                p: 0.25
            tags: [a, b]
            amp: true
            warmup_lr: 0
            """, file: "extras.yaml", defaults: TExtras())
        XCTAssertEqual(extras.pooling, .mean)
        XCTAssertEqual(extras.steps, [TStep(op: "crop", p: 1), TStep(op: "blur", p: 0.25)])
        XCTAssertEqual(extras.tags, ["a", "b"])
        XCTAssertTrue(extras.amp)
        XCTAssertEqual(extras.warmupLR, 0)
    }

    // MARK: Errors

    func testUnknownTopLevelKey() {
        let e = error { try self.load("epochs: 3\nepoch: 4\n") }
        XCTAssertEqual(e?.description, "config.yaml, line 2: unknown key 'epoch'; did you mean 'epochs'? "
                       + "Known top-level keys: betas, epochs, lr, model, name")
    }

    func testUnknownNestedKey() {
        let e = error { try self.load("lr: 0.1\nmodel:\n  depth: 6\n  dpeth: 12\n") }
        XCTAssertEqual(e?.description, "config.yaml, line 4: unknown key 'model.dpeth'; did you mean 'model.depth'? "
                       + "Known keys under 'model': depth, drop_path_rate, embed_dim, pos_embed")
    }

    func testUnknownKeyWithoutCloseMatchListsKeys() {
        let e = error { try self.load("model:\n  heads: 3\n") }
        XCTAssertEqual(e?.description, "config.yaml, line 2: unknown key 'model.heads'. "
                       + "Known keys under 'model': depth, drop_path_rate, embed_dim, pos_embed")
    }

    func testCamelCaseKeySuggestsSnakeCase() {
        let e = error { try self.load("model:\n  embedDim: 3\n") }
        assertMentions(e, ["line 2", "'model.embedDim'", "did you mean 'model.embed_dim'?", "snake_case"])
    }

    func testWrongScalarType() {
        let e = error { try self.load("model:\n  embed_dim: 192\n\n  depth: twelve\n") }
        XCTAssertEqual(e?.description, "config.yaml, line 4: 'model.depth' expects an integer, got 'twelve'")
        assertMentions(error { try self.load("epochs: 1.5") }, ["line 1", "'epochs' expects an integer, got '1.5'"])
        assertMentions(error { try self.load("lr: fast") }, ["line 1", "'lr' expects a number, got 'fast'"])
        assertMentions(error { try self.load("lr: '0.1'") }, ["'lr' expects a number", "remove the quotes"])
        assertMentions(error { try self.load("name: null") }, ["'name' expects a string, got null", "quote it"])
        assertMentions(error { try ConfigLoader.load(TExtras.self, yaml: "amp: yes", file: "e.yaml", defaults: TExtras()) },
                       ["e.yaml, line 1: 'amp' expects true or false, got 'yes'"])
    }

    func testWrongStructuralType() {
        let e = error { try self.load("epochs: 3\nmodel:\n  depth:\n    value: 3\n") }
        XCTAssertEqual(e?.description, "config.yaml, line 3: 'model.depth' expects an integer, got a mapping")
        assertMentions(error { try self.load("model: 5") }, ["line 1", "'model' expects a mapping with keys embed_dim, depth"])
        assertMentions(error { try self.load("betas: 0.9") }, ["line 1", "'betas' expects a list, got '0.9'"])
        assertMentions(error { try self.load("betas: [0.9, high]") }, ["line 1", "'betas[1]' expects a number, got 'high'"])
    }

    func testTopLevelMustBeAMapping() {
        assertMentions(error { try self.load("- a\n- b\n") }, ["config.yaml, line 1", "top level", "mapping", "got a list"])
        assertMentions(error { try self.load("just text") }, ["config.yaml, line 1", "top level", "got 'just text'"])
    }

    func testMalformedYAMLReportsLineAndColumn() {
        let badIndent = error { try self.load("model:\n  depth: 6\n embed_dim: 3\n") }
        assertMentions(badIndent, ["config.yaml: line 3, column", "YAML syntax error"])
        let unclosed = error { try self.load("epochs: 3\nbetas: [0.9, 0.95\nlr: 1\n") }
        assertMentions(unclosed, ["config.yaml: line", "YAML syntax error", "flow sequence"])
        let duplicate = error { try self.load("epochs: 3\nepochs: 4\n") }
        XCTAssertEqual(duplicate?.description, "config.yaml, line 1: key 'epochs' appears more than once in the same "
                       + "mapping (first here); keep only one")
    }

    func testDecoderErrorsMapBackToLines() {
        let e = error {
            try ConfigLoader.load(TExtras.self, yaml: "amp: true\npooling: max\n", file: "e.yaml", defaults: TExtras())
        }
        assertMentions(e, ["e.yaml, line 2: 'pooling' has an invalid value 'max'; accepted values: cls, mean"])   // fault-21
        let missing = error {
            try ConfigLoader.load(TExtras.self, yaml: "steps:\n  - op: crop\n", file: "e.yaml", defaults: TExtras())
        }
        assertMentions(missing, ["e.yaml, line 2", "'steps[0].p' is missing"])
        let unknownInItem = error {
            try ConfigLoader.load(TExtras.self, yaml: "steps:\n  - op: crop\n    prob: 1\n", file: "e.yaml", defaults: TExtras())
        }
        assertMentions(unknownInItem, ["e.yaml, line 3: unknown key 'steps[0].prob'; did you mean 'steps[0].p'?"])
    }

    // MARK: Overrides

    func testApplyOverrides() throws {
        let config = try ConfigLoader.apply(["model.depth=6", "lr=0.5", "betas=[0.9, 0.999]", "name="],
                                            to: TConfig(), origin: "--set")
        var expected = TConfig()
        expected.model.depth = 6
        expected.lr = 0.5
        expected.betas = [0.9, 0.999]
        expected.name = ""
        XCTAssertEqual(config, expected)
        XCTAssertEqual(try ConfigLoader.apply([], to: expected, origin: "--set"), expected)
        XCTAssertEqual(try ConfigLoader.apply(["model={depth: 3}"], to: TConfig(), origin: "--set").model.depth, 3)
    }

    func testApplyErrorsNameTheOverride() {
        let e = error { try ConfigLoader.apply(["model.nope=1"], to: TConfig(), origin: "--set") }
        XCTAssertEqual(e?.description, "--set 'model.nope=1': unknown key 'model.nope'. "
                       + "Known keys under 'model': depth, drop_path_rate, embed_dim, pos_embed")
        assertMentions(error { try ConfigLoader.apply(["model.depth=deep"], to: TConfig(), origin: "--set") },
                       ["--set 'model.depth=deep': 'model.depth' expects an integer, got 'deep'"])
        assertMentions(error { try ConfigLoader.apply(["epochs"], to: TConfig(), origin: "--set") },
                       ["--set 'epochs'", "key=value"])
        assertMentions(error { try ConfigLoader.apply(["model..depth=1"], to: TConfig(), origin: "--set") },
                       ["--set 'model..depth=1'", "dotted key path"])
        assertMentions(error { try ConfigLoader.apply(["betas=[0.9"], to: TConfig(), origin: "--set") },
                       ["--set 'betas=[0.9'", "not valid YAML"])
    }

    // MARK: Writing back

    func testYAMLRoundTrips() throws {
        var config = TConfig()
        config.model.depth = 6
        config.lr = 1.5e-4
        config.name = "null"  // must come back quoted, as text
        config.betas = [0.9, 0.999]
        let text = try ConfigLoader.yaml(config)
        XCTAssertEqual(try load(text), config)
        // Declaration order, not alphabetical.
        let keys = text.split(separator: "\n").filter { !$0.hasPrefix(" ") }.map { $0.split(separator: ":")[0] }
        XCTAssertEqual(keys, ["model", "lr", "epochs", "name", "betas"])
        XCTAssertTrue(text.contains("  embed_dim: 192\n"), text)

        var extras = TExtras()
        extras.pooling = .mean
        extras.steps = [TStep(op: "crop", p: 0.3), TStep(op: "12", p: 1)]
        extras.tags = ["true", "", "a b"]
        extras.warmupLR = -.infinity
        let extrasText = try ConfigLoader.yaml(extras)
        XCTAssertTrue(extrasText.contains("scale: 0.1\n"), extrasText)  // Float written by its shortest text
        XCTAssertEqual(try ConfigLoader.load(TExtras.self, yaml: extrasText, file: "e.yaml", defaults: TExtras()), extras)
    }

    // MARK: Files

    func testLoadFromPath() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ropim-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("pretrain.yaml").path
        try "epochs: 7\nmodel:\n  depht: 2\n".write(toFile: path, atomically: true, encoding: .utf8)
        assertMentions(error { try ConfigLoader.load(TConfig.self, path: path, defaults: TConfig()) },
                       ["\(path), line 3: unknown key 'model.depht'"])
        try "epochs: 7\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try ConfigLoader.load(TConfig.self, path: path, defaults: TConfig()).epochs, 7)

        let missing = dir.appendingPathComponent("nope.yaml").path
        assertMentions(error { try ConfigLoader.load(TConfig.self, path: missing, defaults: TConfig()) },
                       ["'\(missing)'", "does not exist"])
        assertMentions(error { try ConfigLoader.load(TConfig.self, path: dir.path, defaults: TConfig()) },
                       ["'\(dir.path)'", "is a directory"])
    }
}
