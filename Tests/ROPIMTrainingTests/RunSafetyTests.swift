// Runs never lose work or share a directory: the run-directory lock, stale temporaries, what a resumed
// run may change, graceful stops, and metrics that cannot be written.

import Foundation
import XCTest
import ROPIMKernels
import ROPIMTestSupport
@testable import ROPIMTraining

final class RunSafetyTests: ScratchTestCase {

    /// Another process holding the directory's lock stops a second run, naming that process's pid; the
    /// lock is free again once it exits.
    func testASecondProcessCannotClaimARunDirectory() throws {
        let holder = Process()
        // One process (perl-base is in every Debian) that takes the lock, writes a pid and waits.
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/perl")
        holder.arguments = ["-e", """
            use Fcntl qw(:flock); open(my $f, ">>", "$ARGV[0]/.lock") or die; flock($f, LOCK_EX) or die;
            truncate($f, 0); syswrite($f, "4242\\n"); open(my $r, ">", "$ARGV[0]/ready"); close($r); sleep 30;
            """, dir]
        try holder.run()
        defer { if holder.isRunning { holder.terminate() } }
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: dir + "/ready") && Date() < deadline { usleep(20_000) }
        XCTAssertThrowsError(try RunDirectory.claim(dir)) {
            XCTAssertTrue("\($0)".contains("in use by another ropim process (pid 4242)"), "\($0)")
        }
        holder.terminate(); holder.waitUntilExit()
        XCTAssertNoThrow(try RunDirectory.claim(dir))
        XCTAssertNoThrow(try RunDirectory.claim(dir), "claiming again in the same process is a no-op")
        XCTAssertEqual(try String(contentsOfFile: dir + "/.lock", encoding: .utf8), "\(getpid())\n")
    }

    /// Temporaries of writes killed midway (final checkpoint, numbered checkpoint directories) are removed
    /// when the directory is claimed; finished files stay.
    func testClaimRemovesStaleTemporaries() throws {
        let fm = FileManager.default
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/checkpoint.safetensors.tmp-99999"))
        try fm.createDirectory(atPath: dir + "/.ckpt-00000004.tmp-123", withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/metrics.jsonl"))
        try RunDirectory.claim(dir)
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir).sorted(), [".lock", "metrics.jsonl"])
    }

    /// How long, where the data is and how the run runs may change on resume (each printed with its
    /// effect); anything that defines the run is refused, naming every key.
    func testResumeAppliesWhatMayChangeAndRefusesTheRest() throws {
        let saved = Preset.fmnist.config
        var asked = saved
        asked.optim.epochs = 40; asked.data.path = "/elsewhere/fmnist"; asked.run.threads = 1; asked.optim.maxSteps = 7
        let lines = try ResumeChanges.check(saved: saved, asked: asked)
        XCTAssertEqual(lines.count, 3, "\(lines)")
        XCTAssertTrue(lines[0].hasPrefix("data.path: \"/usr/share/datasets/fashion-mnist\" → \"/elsewhere/fmnist\""), lines[0])
        XCTAssertTrue(lines[1].hasPrefix("optim.epochs: 20 → 40 (the warm-up + cosine schedule now spans 40 epochs"), lines[1])
        XCTAssertTrue(lines[2].hasPrefix("run.threads: 0 → 1"), lines[2])
        var bad = asked
        bad.optim.baseLR = 0.5; bad.method.corruption = .mask; bad.optim.batchSize = 32; bad.model.depth = 2
        XCTAssertThrowsError(try ResumeChanges.check(saved: saved, asked: bad)) {
            for key in ["optim.base_lr (saved 0.001, asked 0.5)", "method.corruption (saved \"rop\", asked \"mask\")",
                        "optim.batch_size", "model.depth"] {
                XCTAssertTrue("\($0)".contains(key), "\(key) missing from \($0)")
            }
        }
    }

    /// In graceful mode the first signal only asks the loop to stop at a step boundary.
    func testFirstSignalAsksForAStopAtTheStepBoundary() {
        StopSignal.reset()
        XCTAssertFalse(StopSignal.requested)
        StopSignal.stopAtStepBoundary()
        StopSignal.deliver(SIGTERM)
        XCTAssertTrue(StopSignal.requested)
        StopSignal.reset()
        XCTAssertFalse(StopSignal.requested)
    }

    /// A metrics record that cannot be written is an error naming the file (never a trap), and a
    /// non-finite number is refused with its key.
    func testMetricsWriteErrorsNameTheFileAndKey() throws {
        let m = try MetricsWriter(path: dir + "/metrics.jsonl")
        try m.write(["step": 1, "loss": 0.5])
        XCTAssertThrowsError(try m.write(["step": 2, "loss": Double.nan])) {
            XCTAssertTrue("\($0)".contains("metrics.jsonl") && "\($0)".contains("non-finite loss"), "\($0)")
        }
        XCTAssertEqual(try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8), "{\"loss\":0.5,\"step\":1}\n")
    }
}
