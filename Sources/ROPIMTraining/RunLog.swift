// Two output streams: a progress line for people (through swift-log; the command line rewrites it in place
// on a terminal and prints plain lines otherwise) and metrics for machines (one JSON object per line in the
// run directory, and the same numbers in a TensorBoard event file beside it).

import Foundation
import Logging
import ROPIMFiles
import ROPIMTensorBoard

public final class MetricsWriter {
    private let handle: FileHandle
    public let path: String
    /// The TensorBoard event file beside metrics.jsonl (`run.tensorboard`), if any: every record written here
    /// also goes there as scalars.
    public let events: EventFileWriter?

    /// Starts a new metrics file, or, resuming after step k, keeps the records of steps ≤ k (a killed
    /// run may have logged steps past its last checkpoint) and appends after them. `tensorboard` also starts
    /// an event file in the same directory (resumed: told to drop the steps past k).
    public init(path: String, keepingStepsUpTo resumedStep: Int? = nil, tensorboard: Bool = false) throws {
        self.path = path
        var kept = Data()
        if let resumedStep, let old = FileManager.default.contents(atPath: path) {
            for line in old.split(separator: UInt8(ascii: "\n")) {
                guard let rec = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let step = rec["step"] as? Int, step <= resumedStep else { continue }
                kept.append(Data(line)); kept.append(UInt8(ascii: "\n"))
            }
        }
        try AtomicFile.write(kept, to: path)
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        handle.seekToEndOfFile()
        events = tensorboard ? try EventFileWriter(directory: (path as NSString).deletingLastPathComponent, resumedAt: resumedStep) : nil
    }

    deinit { try? handle.close() }

    /// Appends one record; keys are written sorted so lines diff cleanly. A failed write (disk full) is an
    /// error naming the file; a record with a non-finite number is an error naming its keys. With an event
    /// file, the record's floating-point values (all but `time`) become scalars of the same names at its
    /// `step` (or `epoch`, for records without one; else 0).
    public func write(_ record: [String: Any]) throws {
        let bad = record.filter { ($0.value as? Double).map { !$0.isFinite } ?? false }.keys.sorted()
        guard bad.isEmpty, let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else {
            throw TrainingError(description: "\(path): cannot record \(bad.isEmpty ? "a metrics line" : "non-finite " + bad.joined(separator: ", ")): \(record)")
        }
        do { try handle.write(contentsOf: data + Data("\n".utf8)) } catch {
            throw TrainingError(description: "\(path): cannot append metrics (\(error.localizedDescription)); free disk space, then resume the run from its last checkpoint")
        }
        if let events {
            let scalars = record.compactMap { k, v in k == "time" ? nil : (v as? Double).map { (tag: k, value: $0) } }
            try events.scalars(scalars.sorted { $0.tag < $1.tag }, step: record["step"] as? Int ?? record["epoch"] as? Int ?? 0)
        }
    }

    /// A picture for TensorBoard at `step` (nothing without an event file).
    public func image(tag: String, _ image: EncodedImage, step: Int) throws {
        try events?.image(tag: tag, image, step: step)
    }
}

/// The run's lines for people, through swift-log (`logger`, by default the caller's `Logger.current`), so an
/// embedding app routes or silences them with its own handler. Step lines carry `Progress.stepLine` in their
/// metadata: every `run.log_every`-th (and the first and last) at `.info`, the others at `.trace`; a console
/// handler shows them all in place on a terminal and only the `.info` ones as plain lines in a log.
public final class Progress {
    /// Metadata key marking a step line (a console may rewrite it in place).
    public static let stepLine = "ropim.progress"
    public var logger: Logger
    /// This invocation's first step: its number and the seconds from the loop's start to its end.
    private var first: (step: Int, elapsed: Double)?
    /// The epoch being shown and the elapsed seconds when it began (the previous step's end).
    private var epoch: (number: Int, start: Double) = (0, 0)
    private var lastElapsed = 0.0

    public init(logger: Logger = Logger.current) { self.logger = logger }

    /// One optimizer step's numbers, as the loop knows them.
    public struct Step {
        /// 1-based epoch and step (`step` counts from the run's start, including steps before a resume).
        public var epoch: Int, epochs: Int, step: Int, totalSteps: Int
        /// 1-based step within the epoch, and steps per epoch.
        public var stepInEpoch: Int, stepsPerEpoch: Int
        public var loss: Double, lr: Double, gradNorm: Double, imagesPerSecond: Double
        /// Seconds since this invocation's loop started, at the end of this step.
        public var elapsed: Double
        public init(epoch: Int, epochs: Int, step: Int, totalSteps: Int, stepInEpoch: Int, stepsPerEpoch: Int,
                    loss: Double, lr: Double, gradNorm: Double, imagesPerSecond: Double, elapsed: Double) {
            self.epoch = epoch; self.epochs = epochs; self.step = step; self.totalSteps = totalSteps
            self.stepInEpoch = stepInEpoch; self.stepsPerEpoch = stepsPerEpoch
            self.loss = loss; self.lr = lr; self.gradNorm = gradNorm; self.imagesPerSecond = imagesPerSecond; self.elapsed = elapsed
        }
    }

    /// Logs the step line; `force` (every log_every-th step, the first and the last) makes it `.info`. The line
    /// is made at every step (the times it keeps need every step), whether or not the logger shows it.
    public func step(_ s: Step, force: Bool) {
        let text = line(s)
        logger.log(level: force ? .info : .trace, "\(text)", metadata: [Progress.stepLine: "step"])
    }

    /// "epoch 1/20  step 120/4680  loss 0.4123  lr 1.234e-04  grad 0.812  412.3 img/s  epoch 0:42 (3:41 left)
    /// run 0:42 (1:23:45 left)". Elapsed times count this invocation; what is left comes from the mean time
    /// per step since its first step (which also pays for warm-up, so it is left out once there are others);
    /// the run's share includes the evaluations between epochs.
    func line(_ s: Step) -> String {
        if first == nil { first = (s.step, s.elapsed) }
        if s.epoch != epoch.number { epoch = (s.epoch, lastElapsed) }
        lastElapsed = s.elapsed
        let f = first!
        let perStep = s.step > f.step ? (s.elapsed - f.elapsed) / Double(s.step - f.step) : s.elapsed
        let runLeft = Double(s.totalSteps - s.step) * perStep
        let epochLeft = Double(Swift.min(s.stepsPerEpoch - s.stepInEpoch, s.totalSteps - s.step)) * perStep
        return String(format: "epoch %d/%d  step %d/%d  loss %.4f  lr %@  grad %.3f  %.1f img/s", s.epoch, s.epochs, s.step,
                      s.totalSteps, s.loss, sci(s.lr), s.gradNorm, s.imagesPerSecond)
            + "  epoch \(Progress.duration(s.elapsed - epoch.start)) (\(Progress.duration(epochLeft)) left)"
            + "  run \(Progress.duration(s.elapsed)) (\(Progress.duration(runLeft)) left)"
    }

    /// A message on its own line (`.info`).
    public func message(_ s: String) { logger.info("\(s)") }

    /// Seconds as m:ss, or h:mm:ss from an hour on (rounded to whole seconds).
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let t = Int(Swift.max(0, seconds).rounded())
        let (h, m, sec) = (t / 3600, t / 60 % 60, t % 60)
        return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%d:%02d", m, sec)
    }
}

/// "1.23e-04"-style formatting for learning rates and losses.
func sci(_ x: Double) -> String { String(format: "%.3e", x) }

public enum RunDirectory {
    /// Creates the run directory and claims it (`claim`); refuses one that already holds a finished run so
    /// nothing is overwritten.
    public static func create(_ dir: String) throws {
        let fm = FileManager.default
        if fm.fileExists(atPath: dir + "/checkpoint.safetensors") {
            throw TrainingError(description: "run directory '\(dir)' already holds a finished run (checkpoint.safetensors); choose another --output or move it away")
        }
        try Folders.create(dir, what: "the run directory", fix: "pass another --output")
        try claim(dir)
    }

    nonisolated(unsafe) private static var held: [String: Int32] = [:]

    /// Makes this process the only writer of `dir` until it exits: an exclusive lock on `dir/.lock`
    /// (flock: released by the kernel when the process ends, even by kill -9) holding our pid. A second
    /// run on the same directory stops here with the first one's pid. Then removes temporaries left by
    /// writes that were killed midway (`*.tmp-<pid>`): no live process owns them any more.
    public static func claim(_ dir: String) throws {
        let path = (dir as NSString).appendingPathComponent(".lock")
        if held[path] != nil { return }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw TrainingError(description: "cannot create \(path): \(String(cString: strerror(errno))); check that the run directory is writable")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buf, 31)
            close(fd)
            let pid = String(decoding: buf.prefix(Swift.max(n, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw TrainingError(description: "run directory '\(dir)' is in use by another ropim process (pid \(pid.isEmpty ? "unknown" : pid)); wait for it to finish, stop it, or choose another --output")
        }
        let me = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, me, me.count, 0)
        held[path] = fd
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.contains(".tmp-") {
            try? fm.removeItem(atPath: (dir as NSString).appendingPathComponent(name))
        }
    }
}
