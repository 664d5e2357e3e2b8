// The safetensors format (what PyTorch, timm and Hugging Face read): 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the
// raw little-endian tensor bytes. Files are written to a temporary name, flushed and renamed.

import Foundation

public struct SafeTensorsError: Error, CustomStringConvertible { public let description: String }

public struct NamedTensor {
    public var name: String
    public var shape: [Int]
    public var values: [Float]
    public init(name: String, shape: [Int], values: [Float]) { self.name = name; self.shape = shape; self.values = values }
}

public enum SafeTensors {
    /// Writes F32 tensors (in the given order) and string metadata atomically to `path`.
    public static func write(_ tensors: [NamedTensor], metadata: [String: String], to path: String) throws {
        try AtomicFile.write(encode(tensors, metadata: metadata), to: path)
    }

    /// The bytes of a file of F32 tensors (in the given order) and string metadata.
    public static func encode(_ tensors: [NamedTensor], metadata: [String: String]) -> Data {
        var header: [(String, String)] = []
        var offset = 0
        for t in tensors {
            precondition(t.values.count == t.shape.reduce(1, *), "\(t.name): \(t.values.count) values for shape \(t.shape)")
            let bytes = t.values.count * 4
            header.append((t.name, "{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}"))
            offset += bytes
        }
        let meta = metadata.sorted { $0.key < $1.key }.map { "\(JSONText.quoted($0.key)):\(JSONText.quoted($0.value))" }.joined(separator: ",")
        var json = "{\"__metadata__\":{\(meta)}"
        for (name, entry) in header { json += ",\(JSONText.quoted(name)):\(entry)" }
        json += "}"
        // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
        while (json.utf8.count % 8) != 0 { json += " " }
        var data = Data(capacity: 8 + json.utf8.count + offset)
        var len = UInt64(json.utf8.count).littleEndian
        withUnsafeBytes(of: &len) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(json.utf8))
        for t in tensors { t.values.withUnsafeBytes { data.append(contentsOf: $0) } }
        return data
    }

    /// The format's own limit on the JSON header (the reference reader refuses larger ones).
    public static let maxHeaderBytes = 100_000_000

    /// Element types read (each converted to Float); `width` is bytes per element.
    enum DType: String, CaseIterable {
        case f32 = "F32", f64 = "F64", f16 = "F16", bf16 = "BF16"
        var width: Int { switch self { case .f64: 8; case .f32: 4; case .f16, .bf16: 2 } }
    }

    /// One tensor's header entry, checked: its bytes are `begin..<end` of the data section.
    struct Entry {
        var name: String, dtype: DType, shape: [Int], count: Int, begin: Int, end: Int
    }

    /// Reads every tensor (F32, F64, F16 and BF16, as Float) and the metadata. The header is untrusted:
    /// every number in it is checked for overflow and against the file's real size before anything is
    /// allocated, and the tensors must tile the data section exactly, as the reference reader demands.
    /// Errors name the file, the tensor and what is wrong.
    public static func read(_ path: String) throws -> (tensors: [NamedTensor], metadata: [String: String]) {
        let data = try contents(of: path)
        func fail(_ s: String) -> SafeTensorsError { SafeTensorsError(description: "\(path): \(s)") }
        guard data.count >= 8 else { throw fail("only \(data.count) bytes; not a safetensors file") }
        let len = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard len <= UInt64(data.count - 8) else {
            throw fail("header length \(len) exceeds the file size \(data.count) (truncated or not safetensors)")
        }
        guard len <= UInt64(maxHeaderBytes) else {
            throw fail("header length \(len) is above the format's limit of \(maxHeaderBytes) bytes; the file is damaged or not safetensors")
        }
        let body = 8 + Int(len), dataBytes = data.count - body
        let (entries, metadata) = try header(data.subdata(in: 8..<body), fail: fail)
        // The reference layout: sorted by offset, each tensor starting where the previous one ends, the last
        // ending at the end of the file. Anything else (overlap, gaps, trailing bytes) is a damaged file.
        var next = 0
        for e in entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            guard e.end <= dataBytes else {
                throw fail("tensor '\(e.name)' data [\(e.begin), \(e.end)) lies beyond the file's \(dataBytes) data bytes; the file is truncated or corrupt")
            }
            guard e.begin == next else {
                throw fail("tensor '\(e.name)' data starts at byte \(e.begin) but the tensor before it ends at \(next): "
                    + "data ranges \(e.begin < next ? "overlap" : "leave a gap"); the file is corrupt")
            }
            next = e.end
        }
        guard next == dataBytes else {
            throw fail("the tensors' data ends at byte \(next) but the file holds \(dataBytes) data bytes (trailing bytes); the file is corrupt")
        }
        let tensors = data.withUnsafeBytes { raw in
            entries.sorted { $0.begin < $1.begin }.map { e in
                NamedTensor(name: e.name, shape: e.shape, values: decode(UnsafeRawBufferPointer(rebasing: raw[(body + e.begin)..<(body + e.end)]),
                                                                          dtype: e.dtype, count: e.count))
            }
        }
        return (tensors, metadata)
    }

    /// The bytes of the regular file at `path` (a folder, a device or a pipe is refused before reading).
    static func contents(of path: String) throws -> Data {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw SafeTensorsError(description: "\(path): cannot read the file (missing or unreadable)")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            let what = attributes[.type] as? FileAttributeType == .typeDirectory ? "a folder" : "not a regular file"
            throw SafeTensorsError(description: "\(path): is \(what), not a safetensors file; pass the .safetensors file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafeTensorsError(description: "\(path): cannot read the file (missing or unreadable)")
        }
        return data
    }

    /// The header's tensor entries (each checked on its own) and its string metadata.
    static func header(_ bytes: Data, fail: (String) -> SafeTensorsError) throws -> ([Entry], [String: String]) {
        guard let text = String(data: bytes, encoding: .utf8) else { throw fail("the header is not UTF-8 text; the file is corrupt or not safetensors") }
        guard text.first == "{", let obj = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw fail("the header is not a valid JSON object {name: {dtype, shape, data_offsets}, …}; the file is corrupt or not safetensors")
        }
        var metadata: [String: String] = [:]
        var entries: [Entry] = []
        for (name, value) in obj {
            if name == "__metadata__" { metadata = try self.metadata(value, fail: fail); continue }
            entries.append(try entry(name, value, fail: fail))
        }
        return (entries, metadata)
    }

    /// `__metadata__`: string keys to string values, as every safetensors writer stores it.
    static func metadata(_ value: Any, fail: (String) -> SafeTensorsError) throws -> [String: String] {
        guard let m = value as? [String: Any] else { throw fail("__metadata__ is not a JSON object of strings; the file is corrupt") }
        var out: [String: String] = [:]
        for (k, v) in m {
            guard let s = v as? String else {
                throw fail("__metadata__ key '\(k)' holds \(jsonKind(v)), but safetensors metadata values are strings; "
                    + "store it as a string (e.g. \"\(k)\": \"\(v)\")")
            }
            out[k] = s
        }
        return out
    }

    /// One tensor's entry: a known dtype, a non-negative shape whose byte size fits in an Int, and
    /// offsets 0 ≤ begin ≤ end that hold exactly that many bytes.
    static func entry(_ name: String, _ value: Any, fail: (String) -> SafeTensorsError) throws -> Entry {
        func bad(_ s: String) -> SafeTensorsError { fail("tensor '\(name)': \(s); the file is corrupt") }
        guard let e = value as? [String: Any] else { throw bad("the header entry is not an object {dtype, shape, data_offsets}") }
        guard let dt = e["dtype"] as? String else { throw bad("'dtype' is missing or not a string") }
        guard let dtype = DType(rawValue: dt) else {
            throw fail("tensor '\(name)' has dtype \(dt); ropim reads \(DType.allCases.map(\.rawValue).joined(separator: ", ")) "
                + "(convert it with torch, t.float(), or leave it out of the file)")
        }
        guard let shape = e["shape"] as? [Int], shape.allSatisfy({ $0 >= 0 }) else {
            throw bad("'shape' must be a list of non-negative integers, got \(e["shape"].map { "\($0)" } ?? "nothing")")
        }
        guard let offs = e["data_offsets"] as? [Int], offs.count == 2, offs[0] >= 0, offs[0] <= offs[1] else {
            throw bad("'data_offsets' must be two integers 0 ≤ begin ≤ end, got \(e["data_offsets"].map { "\($0)" } ?? "nothing")")
        }
        var count = 1
        for d in shape {
            let (p, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw bad("shape \(shape) has more elements than an Int can count") }
            count = p
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.width)
        guard !overflow, offs[1] - offs[0] == bytes else {
            throw bad("data [\(offs[0]), \(offs[1])) holds \(offs[1] - offs[0]) bytes but shape \(shape) of \(dt) needs "
                + (overflow ? "more than an Int can count" : "\(bytes)"))
        }
        return Entry(name: name, dtype: dtype, shape: shape, count: count, begin: offs[0], end: offs[1])
    }

    static func jsonKind(_ v: Any) -> String {
        switch v {
        case is String: return "a string"
        case is NSNumber: return "a number (\(v))"
        case is [Any]: return "a list"
        case is [String: Any]: return "an object"
        default: return "null"
        }
    }

    /// `count` little-endian elements of `dtype` as Float (F64 rounded, F16 and BF16 widened exactly).
    static func decode(_ bytes: UnsafeRawBufferPointer, dtype: DType, count n: Int) -> [Float] {
        var values = [Float](repeating: 0, count: n)
        switch dtype {
        case .f32: values.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
        case .f64: for i in 0..<n { values[i] = Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))) }
        case .f16: for i in 0..<n { values[i] = float(half: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
        case .bf16: for i in 0..<n { values[i] = Float(bitPattern: UInt32(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
        }
        return values
    }

    /// IEEE half precision (1 sign, 5 exponent, 10 mantissa bits) to Float, exactly (every half is a Float).
    static func float(half h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int(h >> 10) & 0x1F, mantissa = UInt32(h & 0x3FF)
        switch exponent {
        case 0: return sign * Float(mantissa) * 0x1p-24   // zero and subnormals
        case 31: return Float(bitPattern: UInt32(h & 0x8000) << 16 | 0x7F80_0000 | mantissa << 13)   // inf, NaN
        default: return Float(bitPattern: UInt32(h & 0x8000) << 16 | UInt32(exponent + 112) << 23 | mantissa << 13)
        }
    }
}
