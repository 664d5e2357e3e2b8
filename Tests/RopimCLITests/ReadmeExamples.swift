// The command examples of README.md, read from its ```sh blocks as a shell would split them, and a way to
// run the built `ropim` binary on them in a scratch folder. Also the tiny checkpoints the examples name.

import ArgumentParser
import Foundation
import XCTest
import ROPIMConfig
import ROPIMCore
import ROPIMData
import ROPIMKernels
import ROPIMOptim
@testable import ROPIMTraining
@testable import RopimCLI

/// One `ropim …` command of a README code block.
struct ReadmeExample: CustomStringConvertible {
    /// The arguments after `ropim`, as written (variables not yet substituted): the example's name.
    var written: [String]
    /// The arguments with the block's shell variables substituted.
    var args: [String]
    /// The file the example's stdout is redirected to (`> my.yaml`), if any.
    var stdout: String?
    var line: Int
    var description: String { written.joined(separator: " ") }
}

enum Readme {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Every `ropim` command in README.md's sh blocks, in order: continuation lines joined, comments
    /// dropped, `a && b` split, `NAME=value` lines remembered and `$NAME` substituted.
    static func examples(_ text: String? = nil) throws -> [ReadmeExample] {
        let readme = try text ?? String(contentsOfFile: packageRoot + "/README.md", encoding: .utf8)
        var out: [ReadmeExample] = []
        var inBlock = false, pending = "", pendingLine = 0
        var variables: [String: String] = [:]
        for (i, raw) in readme.components(separatedBy: "\n").enumerated() {
            if raw.hasPrefix("```") { inBlock = !inBlock && raw.hasPrefix("```sh"); pending = ""; continue }
            guard inBlock else { continue }
            if pending.isEmpty { pendingLine = i + 1 }
            if raw.hasSuffix("\\") { pending += raw.dropLast() + " "; continue }
            let line = pending + raw
            pending = ""
            for segment in split(line, on: "&&") {
                let words = tokens(segment)
                if words.count == 1, let eq = words[0].firstIndex(of: "="), words[0].first!.isUppercase {
                    variables[String(words[0][..<eq])] = String(words[0][words[0].index(after: eq)...])
                    continue
                }
                guard let at = words.firstIndex(where: { $0 == "ropim" || $0.hasSuffix("/ropim") }) else { continue }
                var written = Array(words[(at + 1)...]), stdout: String?
                if let r = written.firstIndex(of: ">"), r + 1 < written.count {
                    stdout = written[r + 1]
                    written.removeSubrange(r...(r + 1))
                }
                let args = written.map { w in variables.reduce(w) { $0.replacingOccurrences(of: "$" + $1.key, with: $1.value) } }
                out.append(ReadmeExample(written: written, args: args, stdout: stdout, line: pendingLine))
            }
        }
        return out
    }

    /// `line` split at `separator` outside quotes, each part without its comment.
    static func split(_ line: String, on separator: String) -> [String] {
        var parts: [String] = [], current = "", quote: Character?
        var rest = Substring(line)
        while let c = rest.first {
            if quote == nil && c == "#" && (current.isEmpty || current.last == " ") { break }
            if quote == nil && rest.hasPrefix(separator) {
                parts.append(current); current = ""; rest = rest.dropFirst(separator.count); continue
            }
            if c == "\"" || c == "'" { quote = quote == nil ? c : (quote == c ? nil : quote) }
            current.append(c)
            rest = rest.dropFirst()
        }
        parts.append(current)
        return parts
    }

    /// Shell words: split at blanks outside quotes, quotes removed.
    static func tokens(_ s: String) -> [String] {
        var words: [String] = [], current = "", quote: Character?, inWord = false
        for c in s {
            if let q = quote {
                if c == q { quote = nil } else { current.append(c) }
            } else if c == "\"" || c == "'" {
                quote = c; inWord = true
            } else if c == " " || c == "\t" {
                if inWord { words.append(current); current = ""; inWord = false }
            } else {
                current.append(c); inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }
}

/// A scratch folder to run examples in, and the built binary.
final class Scratch {
    let dir: String
    init() throws {
        dir = NSTemporaryDirectory() + "ropim-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func path(_ p: String) -> String { dir + "/" + p }
    func exists(_ p: String) -> Bool { FileManager.default.fileExists(atPath: path(p)) }

    /// The `ropim` executable next to the test bundle (`swift build --build-tests` builds both).
    static let binary: String? = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [here, here.deletingLastPathComponent(), URL(fileURLWithPath: Bundle.main.bundlePath).deletingLastPathComponent()]
            .map { $0.appendingPathComponent("ropim").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Runs `ropim args` in the scratch folder; returns the exit status, stdout and stderr.
    @discardableResult
    func ropim(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        guard let binary = Scratch.binary else {
            throw XCTSkip("no ropim executable next to the tests (\(CommandLine.arguments[0])); build with swift build --build-tests")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = args
        p.currentDirectoryURL = URL(fileURLWithPath: dir)
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// Runs and asserts a zero exit status.
    @discardableResult
    func ok(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try ropim(args)
        XCTAssertEqual(r.status, 0, "ropim \(args.joined(separator: " ")) failed:\n\(r.err)\n\(r.out.suffix(2000))", file: file, line: line)
        return r.out
    }
}

/// Tiny models for tests: the fmnist preset (28 px / patch 4, K' = 7, Fashion-MNIST IDX) at width 16, one block.
enum Tiny {
    static var config: PretrainConfig {
        var c = Preset.fmnist.config
        c.model.embedDim = 16; c.model.depth = 1; c.model.numHeads = 2
        return c
    }

    /// The flags that make a README example tiny: the same model, synthetic data, small batches.
    static let flags = ["--set", "model.embed_dim=16", "--set", "model.depth=1", "--set", "model.num_heads=2",
                        "--dataset", "synthetic", "--set", "data.synthetic_count=64", "--set", "optim.batch_size=16"]

    /// A final pre-training checkpoint at `path` (untrained weights).
    static func checkpoint(_ path: String, config c: PretrainConfig = Tiny.config, step: Int = 0) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let model = try Objectives.make(vit: c.model, method: c.method)
        var rng = RNG(seed: 1)
        model.initialize(rng: &rng)
        try saveCheckpoint(model: model, config: c, step: step, to: path)
    }

    /// A resumable checkpoint `dir/ckpt-<step>/` (what Ctrl-C leaves).
    static func resumable(in dir: String, step: Int, config c: PretrainConfig = Tiny.config) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let model = try Objectives.make(vit: c.model, method: c.method)
        var rng = RNG(seed: 1)
        model.initialize(rng: &rng)
        let optimizer = AdamW(params: model.params, config: c.optim, depth: c.model.depth)
        let state = RunState(ropimVersion: ropimVersion, step: step, adamStep: step,
                             dataPosition: LoaderPosition(seed: 0, epoch: 1, batch: 0), epochLosses: [], threads: 1, worldSize: 1,
                             config: try ConfigLoader.yaml(c))
        try RunCheckpoint.save(model: model, optimizer: optimizer, state: state, in: dir, keepLast: 2, best: false)
    }
}
