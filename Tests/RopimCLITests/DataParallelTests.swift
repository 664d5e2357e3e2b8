#if os(Linux)
import XCTest
import Foundation
import ROPIMFiles
import ROPIMTestSupport

/// Data-parallel training under Open MPI, end to end: the real `ropim` binary under `mpirun -np 2`
/// (Open MPI's root flags and --oversubscribe, so it runs on a 2-core CI machine as root).
final class DataParallelTests: XCTestCase {
    /// A tiny model on generated data, one thread per rank: 640 images, a global batch of 32.
    static let flags = ["--set", "model.embed_dim=16", "--set", "model.depth=1", "--set", "model.num_heads=2",
                        "--set", "model.drop_path_rate=0.1", "--dataset", "synthetic", "--set", "data.synthetic_count=640",
                        "--threads", "1", "--set", "run.log_every=1"]

    static let mpirun: String? = {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").map(String.init)
        return dirs.map { $0 + "/mpirun" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Runs `mpirun -np ranks ropim args` (or the MPMD form with `colon` when given) in `s`'s folder.
    func launch(_ s: Scratch, ranks: Int, _ args: [String], colon: [String]? = nil) throws -> Process {
        guard let mpirun = Self.mpirun else {
            XCTFail("mpirun not found: install openmpi-bin (bash scripts/setup.sh does)"); throw XCTSkip("no mpirun")
        }
        guard let binary = Scratch.binary else { throw XCTSkip("no ropim executable next to the tests") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        var a = ["--oversubscribe", "-np", "\(ranks)", binary] + args
        if let colon { a += [":", "-np", "1", binary] + colon }
        p.arguments = a
        p.currentDirectoryURL = URL(fileURLWithPath: s.dir)
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        p.environment = env
        return p
    }

    func run(_ s: Scratch, ranks: Int, _ args: [String], colon: [String]? = nil) throws -> (status: Int32, out: String) {
        let r = try runToEnd(try launch(s, ranks: ranks, args, colon: colon))
        return (r.status, r.output)
    }

    func losses(_ dir: String) throws -> [Double] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double
        }
    }

    func tensors(_ path: String) throws -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: try SafeTensors.read(path).tensors.map { ($0.name, $0.values) })
    }

    /// 2 ranks × batch 16 against 1 process × batch 32: the same images, draws and schedule, so the only
    /// difference is the order of the gradient sum (each rank sums its 16 images, then the two are added).
    func testTwoRanksEqualOneProcessWithTheGlobalBatch() throws {
        let s = try Scratch()
        let two = try run(s, ranks: 2, ["pretrain"] + Self.flags + ["--batch-size", "16", "--max-steps", "10", "--output", s.path("two")])
        XCTAssertEqual(two.status, 0, two.out)
        XCTAssertTrue(two.out.contains("2 ranks × batch 16 = global batch 32"), two.out)
        let one = try s.ropim(["pretrain"] + Self.flags + ["--batch-size", "32", "--max-steps", "10", "--output", s.path("one")])
        XCTAssertEqual(one.status, 0, one.err)
        let a = try losses(s.path("two")), b = try losses(s.path("one"))
        XCTAssertEqual(a.count, 10); XCTAssertEqual(b.count, 10)
        var worstLoss = 0.0
        for (x, y) in zip(a, b) { worstLoss = max(worstLoss, abs(x - y) / abs(y)) }
        XCTAssertLessThan(worstLoss, 1e-5)
        let wa = try tensors(s.path("two/checkpoint.safetensors")), wb = try tensors(s.path("one/checkpoint.safetensors"))
        XCTAssertEqual(Set(wa.keys), Set(wb.keys))
        var worstWeight = 0.0
        for (name, x) in wa {
            let y = wb[name]!, scale = Double(y.map { abs($0) }.max() ?? 0)
            let d = zip(x, y).map { Double(abs($0 - $1)) }.max() ?? 0
            if scale > 0 { worstWeight = max(worstWeight, d / scale) }
            XCTAssertLessThanOrEqual(d, 1e-5 * max(scale, 1e-30), name)
        }
        print("data-parallel equivalence: worst loss difference \(worstLoss) (relative), worst weight difference \(worstWeight) (of each tensor's max)")
    }

    /// A 2-rank run stopped after step 5 and resumed equals the uninterrupted 2-rank run bit for bit; the
    /// checkpoint records the world size.
    func testTwoRankResumeIsBitExact() throws {
        let s = try Scratch()
        let common = ["pretrain"] + Self.flags + ["--batch-size", "16", "--set", "optim.epochs=1"]
        let whole = try run(s, ranks: 2, common + ["--max-steps", "10", "--output", s.path("whole")])
        XCTAssertEqual(whole.status, 0, whole.out)
        let first = try run(s, ranks: 2, common + ["--max-steps", "5", "--output", s.path("parts")])
        XCTAssertEqual(first.status, 0, first.out)
        let state = try String(contentsOfFile: s.path("parts/ckpt-00000005/state.json"), encoding: .utf8)
        XCTAssertTrue(state.contains("\"worldSize\" : 2"), state)
        let second = try run(s, ranks: 2, common + ["--max-steps", "5", "--resume", s.path("parts")])
        XCTAssertEqual(second.status, 0, second.out)
        XCTAssertTrue(second.out.contains("resuming"), second.out)
        XCTAssertEqual(try losses(s.path("parts")), try losses(s.path("whole")))
        XCTAssertTrue(try tensors(s.path("parts/checkpoint.safetensors")) == tensors(s.path("whole/checkpoint.safetensors")),
                      "the resumed run's final weights equal the uninterrupted run's, bit for bit")
    }

    /// kill -9 of one rank ends the whole job with a non-zero exit and a message naming the rank, in seconds.
    func testKillingOneRankEndsTheJob() throws {
        let s = try Scratch()
        let p = try launch(s, ranks: 2, ["pretrain"] + Self.flags + ["--batch-size", "16", "--output", s.path("run")])
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        let collected = OutputCollector(pipe)
        try p.run()
        // Wait for training to start (rank 0 has written a metrics line), then kill rank 1.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, (try? String(contentsOfFile: s.path("run/metrics.jsonl"), encoding: .utf8))?.isEmpty ?? true {
            Thread.sleep(forTimeInterval: 0.2)
        }
        guard let victim = Self.rankProcess(rank: 1, under: p.processIdentifier) else {
            p.terminate(); return XCTFail("rank 1 not found under mpirun \(p.processIdentifier)")
        }
        let killed = Date()
        kill(victim, SIGKILL)
        while p.isRunning && Date().timeIntervalSince(killed) < 60 { Thread.sleep(forTimeInterval: 0.1) }
        let seconds = Date().timeIntervalSince(killed)
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        let out = collected.text()
        XCTAssertLessThan(seconds, 30, "the job outlived its dead rank: \(out.suffix(2000))")
        XCTAssertNotEqual(p.terminationStatus, 0)
        XCTAssertTrue(out.contains("rank 1"), "the message names the rank: \(out.suffix(2000))")
        print("killed rank 1: the job ended after \(String(format: "%.1f", seconds)) s with status \(p.terminationStatus)")
    }

    /// Ranks launched with different settings stop before training with an error naming what differs.
    func testRanksThatDisagreeStopAtStart() throws {
        let s = try Scratch()
        let args = ["pretrain"] + Self.flags + ["--batch-size", "16", "--max-steps", "2", "--output", s.path("run")]
        let r = try run(s, ranks: 1, args + ["--seed", "1"], colon: args + ["--seed", "2"])
        XCTAssertNotEqual(r.status, 0, r.out)
        XCTAssertTrue(r.out.contains("ranks disagree") && r.out.contains("resolved config"), r.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.path("run/metrics.jsonl")), "nothing trained")
    }

    /// The child of `parent` (mpirun) whose environment says OMPI_COMM_WORLD_RANK=`rank`.
    static func rankProcess(rank: Int, under parent: Int32) -> Int32? {
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for name in procs {
            guard let pid = Int32(name),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, Int32(fields[1]) == parent,
                  let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if env.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }) { return pid }
        }
        return nil
    }
}

/// Reads a pipe on a background thread so the child never blocks on a full pipe.
final class OutputCollector: @unchecked Sendable {
    private var data = Data()
    private let lock = NSLock()
    init(_ pipe: Pipe) {
        pipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let chunk = h.availableData
            guard let self else { return }
            self.lock.lock(); self.data.append(chunk); self.lock.unlock()
        }
    }
    func text() -> String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}
#endif
