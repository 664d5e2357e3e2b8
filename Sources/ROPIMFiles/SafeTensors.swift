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
        for t in tensors { t.values.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) } }
        try AtomicFile.write(data, to: path)
    }

    /// Reads every F32 tensor and the metadata; errors name the file and what is wrong.
    public static func read(_ path: String) throws -> (tensors: [NamedTensor], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SafeTensorsError(description: "\(path): cannot read the file (missing or unreadable)")
        }
        guard data.count >= 8 else { throw SafeTensorsError(description: "\(path): only \(data.count) bytes; not a safetensors file") }
        let len = data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }.littleEndian
        guard len <= UInt64(data.count - 8) else {
            throw SafeTensorsError(description: "\(path): header length \(len) exceeds the file size \(data.count) (truncated or not safetensors)")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(len)))
        guard let obj = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw SafeTensorsError(description: "\(path): header is not a JSON object (corrupt file?)")
        }
        let body = 8 + Int(len)
        var metadata: [String: String] = [:]
        var tensors: [(Int, NamedTensor)] = []
        for (name, value) in obj {
            if name == "__metadata__" { metadata = value as? [String: String] ?? [:]; continue }
            guard let e = value as? [String: Any], let dtype = e["dtype"] as? String,
                  let shape = e["shape"] as? [Int], let offs = e["data_offsets"] as? [Int], offs.count == 2 else {
                throw SafeTensorsError(description: "\(path): malformed header entry for '\(name)'")
            }
            // F64 (e.g. a double-precision reference) is read and rounded to Float.
            guard dtype == "F32" || dtype == "F64" else {
                throw SafeTensorsError(description: "\(path): tensor '\(name)' has dtype \(dtype); only F32 and F64 are supported (convert with torch: t.float())")
            }
            let n = shape.reduce(1, *), width = dtype == "F32" ? 4 : 8
            guard offs[1] - offs[0] == n * width, offs[0] >= 0, body + offs[1] <= data.count else {
                throw SafeTensorsError(description: "\(path): tensor '\(name)' data [\(offs[0]), \(offs[1])) does not fit shape \(shape) or the file (\(data.count - body) data bytes); the file is truncated or corrupt")
            }
            var values = [Float](repeating: 0, count: n)
            data.withUnsafeBytes { src in
                let bytes = UnsafeRawBufferPointer(rebasing: src[(body + offs[0])..<(body + offs[1])])
                if width == 4 {
                    values.withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
                } else {
                    for i in 0..<n { values[i] = Float(bytes.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
                }
            }
            tensors.append((offs[0], NamedTensor(name: name, shape: shape, values: values)))
        }
        return (tensors.sorted { $0.0 < $1.0 }.map(\.1), metadata)
    }
}
