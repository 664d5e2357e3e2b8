#if os(Linux)
import XCTest
import Foundation
import ROPIMCore
import ROPIMData
import ROPIMFiles
import ROPIMKernels
import ROPIMTestSupport
import ROPIMTraining

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

    /// The tiny classifier of the fine-tuning tests: the same model, mixup and CutMix off (each rank would mix its
    /// own batch), drop path on; one epoch with a short warm-up.
    static let classifierFlags = ["--set", "model.embed_dim=16", "--set", "model.depth=1", "--set", "model.num_heads=2",
                                  "--set", "model.drop_path_rate=0.1", "--set", "method.mixup=0", "--set", "method.cutmix=0",
                                  "--epochs", "1", "--set", "optim.warmup_epochs=0.2", "--threads", "1", "--set", "run.log_every=1"]

    /// Runs `mpirun -np ranks ropim args` (or the MPMD form with `colon` when given) in `s`'s folder; with
    /// `directories`, one rank in each (mpirun's -wdir), all running `args`.
    func launch(_ s: Scratch, ranks: Int, _ args: [String], colon: [String]? = nil, directories: [String]? = nil) throws -> Process {
        guard let mpirun = Self.mpirun else {
            XCTFail("mpirun not found: install openmpi-bin (bash scripts/setup.sh does)"); throw XCTSkip("no mpirun")
        }
        guard let binary = Scratch.binary else { throw XCTSkip("no ropim executable next to the tests") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        var a = ["--oversubscribe", "-np", "\(ranks)", binary] + args
        if let colon { a += [":", "-np", "1", binary] + colon }
        if let directories { a = ["--oversubscribe"] + directories.flatMap { [":", "-np", "1", "-wdir", $0, binary] + args }.dropFirst() }
        p.arguments = a
        p.currentDirectoryURL = URL(fileURLWithPath: s.dir)
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        p.environment = env
        return p
    }

    func run(_ s: Scratch, ranks: Int, _ args: [String], colon: [String]? = nil, directories: [String]? = nil) throws -> (status: Int32, out: String) {
        let r = try runToEnd(try launch(s, ranks: ranks, args, colon: colon, directories: directories))
        return (r.status, r.output)
    }

    /// metrics.jsonl's records.
    func records(_ dir: String) throws -> [[String: Any]] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
    }

    func losses(_ dir: String) throws -> [Double] { try records(dir).compactMap { $0["loss"] as? Double } }

    func summary(_ dir: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as? [String: Any] ?? [:]
    }

    /// The largest relative difference of two loss curves of the same length.
    func worstRelative(_ a: [Double], _ b: [Double]) -> Double {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).map { abs($0 - $1) / abs($1) }.max() ?? 0
    }

    /// Asserts that two safetensors files hold the same tensors, each within `tolerance` of that tensor's largest
    /// magnitude; returns the largest such relative difference.
    @discardableResult
    func assertTensorsClose(_ pathA: String, _ pathB: String, tolerance: Double, file: StaticString = #filePath, line: UInt = #line) throws -> Double {
        let wa = try tensors(pathA), wb = try tensors(pathB)
        XCTAssertEqual(Set(wa.keys), Set(wb.keys), file: file, line: line)
        var worst = 0.0
        for (name, x) in wa {
            guard let y = wb[name] else { continue }
            XCTAssertEqual(x.count, y.count, name, file: file, line: line)
            let scale = Double(y.map { abs($0) }.max() ?? 0)
            let d = zip(x, y).map { Double(abs($0 - $1)) }.max() ?? 0
            if scale > 0 { worst = max(worst, d / scale) }
            XCTAssertLessThanOrEqual(d, tolerance * max(scale, 1e-30), name, file: file, line: line)
        }
        return worst
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
        let worstLoss = worstRelative(a, b)
        XCTAssertLessThan(worstLoss, 1e-5)
        let worstWeight = try assertTensorsClose(s.path("two/checkpoint.safetensors"), s.path("one/checkpoint.safetensors"), tolerance: 1e-5)
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

    /// Fine-tuning, 2 ranks × batch 16 against 1 process × batch 32 for one epoch of 10 steps (320 generated
    /// images) with mixup and CutMix off (each rank mixes its own batch, so they cannot agree while on): the same
    /// images, augmentations and drop-path draws, so the losses and weights differ only by the order of the
    /// gradient sum, and the test evaluation after the epoch gets the same top-1 and top-5.
    func testFinetuneTwoRanksEqualOneProcessWithTheGlobalBatch() throws {
        let s = try Scratch()
        let args = ["finetune"] + Self.classifierFlags + ["--dataset", "synthetic", "--set", "data.synthetic_count=320"]
        let two = try run(s, ranks: 2, args + ["--batch-size", "16", "--output", s.path("two")])
        XCTAssertEqual(two.status, 0, two.out)
        XCTAssertTrue(two.out.contains("2 ranks × batch 16 = global batch 32") && two.out.contains("× global batch 32 / 512"), two.out)
        let one = try s.ropim(args + ["--batch-size", "32", "--output", s.path("one")])
        XCTAssertEqual(one.status, 0, one.err)
        let worstLoss = worstRelative(try losses(s.path("two")), try losses(s.path("one")))
        XCTAssertEqual(try losses(s.path("one")).count, 10)
        XCTAssertLessThan(worstLoss, 1e-5)
        // The same process with 2 threads instead of 1 changes only the order of sums too (the weight gradients' split
        // over the shared dimension): the data-parallel difference must be of that size. AdamW carries last-bit
        // differences of a near-zero bias gradient into the update, so the bound is 1e-5 of the tensor's max or
        // 4 × what the thread count alone moves, whichever is larger (observed: 4.9e-6 and 4.8e-6).
        let threads = try s.ropim(args + ["--batch-size", "32", "--threads", "2", "--output", s.path("one-2threads")])
        XCTAssertEqual(threads.status, 0, threads.err)
        let orderOfSums = try assertTensorsClose(s.path("one-2threads/checkpoint.safetensors"), s.path("one/checkpoint.safetensors"),
                                                 tolerance: .infinity)
        let worstWeight = try assertTensorsClose(s.path("two/checkpoint.safetensors"), s.path("one/checkpoint.safetensors"),
                                                 tolerance: max(1e-5, 4 * orderOfSums))
        let evalA = try records(s.path("two")).filter { $0["test_top1"] != nil }, evalB = try records(s.path("one")).filter { $0["test_top1"] != nil }
        XCTAssertEqual(evalA.count, 1); XCTAssertEqual(evalB.count, 1)
        for key in ["test_top1", "test_top5"] { XCTAssertEqual(evalA.first?[key] as? Double, evalB.first?[key] as? Double, key) }
        let lossA = evalA.first?["test_loss"] as? Double ?? .nan, lossB = evalB.first?["test_loss"] as? Double ?? .nan
        XCTAssertLessThan(abs(lossA - lossB), 1e-5 * abs(lossB))
        XCTAssertTrue(FileManager.default.fileExists(atPath: s.path("two/best.safetensors")))
        print("fine-tuning equivalence: worst loss difference \(worstLoss) (relative), worst weight difference \(worstWeight) (of each tensor's max; 2 threads vs 1: \(orderOfSums)), test top-1 \(evalA.first?["test_top1"] ?? "?") both, test loss \(lossA) vs \(lossB)")
    }

    /// A tiny pre-training checkpoint (seeded initial weights, generated data) for the frozen-feature tests.
    func tinyCheckpoint(_ s: Scratch) throws -> String {
        var c = Tiny.config
        c.data.dataset = .synthetic
        let model = try Objectives.make(vit: c.model, method: c.method)
        var rng = RNG(seed: 4)
        model.initialize(rng: &rng)
        try saveCheckpoint(model: model, config: c, step: 0, to: s.path("pre.safetensors"))
        return s.path("pre.safetensors")
    }

    /// k-NN and the linear probe, 2 ranks against 1 process from the same checkpoint: the ranks share the feature
    /// extraction (batches of 16: 10 train and 3 test batches), so the features are those of one process and
    /// top-1/top-5 are the same.
    func testFrozenEvaluationsTwoRanksEqualOneProcess() throws {
        let s = try Scratch()
        let ckpt = try tinyCheckpoint(s)
        let common = ["--pretrained", ckpt, "--set", "data.synthetic_count=160", "--set", "probe.feature_batch=16", "--threads", "1", "--save-features"]
        var figures: [String] = []
        for (command, extra) in [("knn", ["--k", "5"]), ("linprobe", ["--epochs", "2", "--batch-size", "16"])] {
            let two = try run(s, ranks: 2, [command] + common + extra + ["--output", s.path("\(command)-two")])
            XCTAssertEqual(two.status, 0, two.out)
            XCTAssertTrue(two.out.contains("data-parallel: 2 ranks"), two.out)
            let one = try s.ropim([command] + common + extra + ["--output", s.path("\(command)-one")])
            XCTAssertEqual(one.status, 0, one.err)
            let a = try summary(s.path("\(command)-two")), b = try summary(s.path("\(command)-one"))
            for key in ["top1", "top5", "train_images", "test_images"] {
                XCTAssertNotNil(b[key], key)
                XCTAssertEqual("\(a[key] ?? "-")", "\(b[key] ?? "-")", "\(command) \(key)")
            }
            let worst = try assertTensorsClose(s.path("\(command)-two/features.safetensors"), s.path("\(command)-one/features.safetensors"), tolerance: 1e-6)
            figures.append("\(command) top-1 \(b["top1"] ?? "?") both, worst feature difference \(worst)")
        }
        print("frozen evaluations, 2 ranks vs 1 process: " + figures.joined(separator: "; "))
    }

    /// `pretrain --knn-every 1` with 2 ranks × 8 against 1 process × 16 (one epoch of 10 steps): every rank takes
    /// part in the k-NN monitor (4 + 1 feature batches of 16), and the logged knn_top1 is the 1-process run's.
    func testKNNMonitorTwoRanksEqualsOneProcess() throws {
        let s = try Scratch()
        let args = ["pretrain"] + Self.flags + ["--set", "data.synthetic_count=160", "--set", "optim.epochs=1", "--knn-every", "1",
                                                 "--set", "run.knn_train_subset=64", "--set", "run.knn_test_subset=16"]
        let two = try run(s, ranks: 2, args + ["--batch-size", "8", "--output", s.path("two")])
        XCTAssertEqual(two.status, 0, two.out)
        let one = try s.ropim(args + ["--batch-size", "16", "--set", "run.report=false", "--output", s.path("one")])
        XCTAssertEqual(one.status, 0, one.err)
        let a = try records(s.path("two")).compactMap { $0["knn_top1"] as? Double }, b = try records(s.path("one")).compactMap { $0["knn_top1"] as? Double }
        XCTAssertEqual(b.count, 1)
        XCTAssertEqual(a, b)
        print("k-NN monitor: knn_top1 \(a) with 2 ranks, \(b) with 1 process")
    }

    /// Ranks launched with the same arguments whose data differ (another copy on one machine: here the same
    /// relative path in two working directories, 64 and 48 training images) stop before anything is written,
    /// with an error naming the dataset and what each rank holds.
    func testRanksWithDifferentDataStopAtStart() throws {
        let s = try Scratch()
        for (folder, count) in [("a", 64), ("b", 48)] {
            let data = s.path(folder + "/data")
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            for (split, n, seed) in [(IDXSplit.train, count, UInt64(1)), (.test, 16, 2)] {
                try IDX.write(SyntheticImages.make(count: n, channels: 1, size: 28, classes: 10, seed: seed, compute: .serial), split: split, to: data, gzip: false)
            }
        }
        let r = try run(s, ranks: 2, ["finetune"] + Self.classifierFlags + ["--data", "data", "--batch-size", "8", "--max-steps", "1", "--output", "run"],
                        directories: [s.path("a"), s.path("b")])
        XCTAssertNotEqual(r.status, 0, r.out)
        XCTAssertTrue(r.out.contains("ranks disagree") && r.out.contains("dataset differs") && r.out.contains("64 train") && r.out.contains("48 train"), r.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: s.path("a/run")), "nothing written")
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
