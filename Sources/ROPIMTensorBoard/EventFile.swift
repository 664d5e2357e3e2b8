// A TensorBoard event file in a run directory: `events.out.tfevents.<seconds>.<host>.<pid>.<n>`, TFRecord-framed
// `Event` protos (Proto/event.proto, encoded by swift-protobuf): the file version first, then scalars and
// PNG images, each at a step. `tensorboard --logdir runs/` reads every run below it. docs/OUTPUTS.md.

import Foundation
import ROPIMFiles
import SwiftProtobuf

public struct EventFileError: Error, CustomStringConvertible, LocalizedError {
    public let description: String
    public var errorDescription: String? { description }
}

/// A PNG picture and what TensorBoard shows about it.
public struct EncodedImage: Sendable {
    public var png: Data
    public var width: Int, height: Int
    /// 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
    public var channels: Int
    public init(png: Data, width: Int, height: Int, channels: Int) {
        self.png = png; self.width = width; self.height = height; self.channels = channels
    }
}

public final class EventFileWriter {
    /// The version string TensorBoard expects in every file's first record.
    public static let fileVersion = "brain.Event:2"
    public let path: String
    private let handle: FileHandle

    /// Starts a new event file in `directory` (a file of its own per writer: readers merge them all). A run
    /// resumed after step k passes `resumedAt: k`: a SessionLog START at step k + 1 tells readers to drop what an
    /// earlier file logged past the checkpoint (as metrics.jsonl drops those lines).
    public init(directory: String, resumedAt step: Int? = nil) throws {
        var name = [CChar](repeating: 0, count: 256)
        let host = (gethostname(&name, name.count - 1) == 0 ? String(cString: name) : "localhost")
            .map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }
        let stem = (directory as NSString).appendingPathComponent(
            "events.out.tfevents.\(String(format: "%010d", Int(Date().timeIntervalSince1970))).\(String(host)).\(getpid())")
        var n = 0
        while FileManager.default.fileExists(atPath: "\(stem).\(n)") { n += 1 }
        path = "\(stem).\(n)"
        var first = Tensorboard_Event.with { $0.wallTime = Date().timeIntervalSince1970; $0.fileVersion = Self.fileVersion }
        var records = TFRecord.frame(try first.serializedData())
        if let step {
            first = Tensorboard_Event.with {
                $0.wallTime = Date().timeIntervalSince1970; $0.step = Int64(step + 1); $0.sessionLog.status = .start
            }
            records += TFRecord.frame(try first.serializedData())
        }
        try AtomicFile.write(records, to: path)
        do { handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path)) } catch {
            throw EventFileError(description: "\(path): cannot open for appending (\(error.localizedDescription))")
        }
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    /// One event holding `values` (float32 in the file) as scalars named by their tags, at `step`.
    public func scalars(_ values: [(tag: String, value: Double)], step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        guard !values.isEmpty else { return }
        try append(step: step, wallTime: wallTime, values.map { v in
            Tensorboard_Summary.Value.with { $0.tag = v.tag; $0.simpleValue = Float(v.value) }
        })
    }

    /// One event holding a PNG picture under `tag`, at `step`.
    public func image(tag: String, _ image: EncodedImage, step: Int, wallTime: Double = Date().timeIntervalSince1970) throws {
        try append(step: step, wallTime: wallTime, [Tensorboard_Summary.Value.with {
            $0.tag = tag
            $0.image = .with {
                $0.height = Int32(clamping: image.height); $0.width = Int32(clamping: image.width)
                $0.colorspace = Int32(clamping: image.channels); $0.encodedImageString = image.png
            }
        }])
    }

    private func append(step: Int, wallTime: Double, _ values: [Tensorboard_Summary.Value]) throws {
        let event = Tensorboard_Event.with { $0.wallTime = wallTime; $0.step = Int64(step); $0.summary.value = values }
        do { try handle.write(contentsOf: TFRecord.frame(try event.serializedData())) } catch {
            throw EventFileError(description: "\(path): cannot append a TensorBoard event (\(error.localizedDescription)); free disk space, or set run.tensorboard: false")
        }
    }
}
