// Small JSON files a user may edit (a model's config.json, state.json): read only when they are small regular
// files, and what is wrong with them said with the key as the file spells it ('model_args.depth',
// 'dataPosition.epoch') instead of a DecodingError's dump.

import Foundation

enum JSONFile {
    /// The bytes of `path`, a regular file of at most `limit` bytes (so a damaged or swapped file, a folder
    /// or a pipe is refused before it is read); `what` names the file's role in messages.
    static func read(_ path: String, what: String, limit: Int) throws -> Data {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else {
            throw CheckpointError(description: "\(path): missing or unreadable")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular, let size = attributes[.size] as? Int, size <= limit else {
            throw CheckpointError(description: "\(path): not a regular file of at most \(limit) bytes, so not \(what); the file is damaged or was replaced")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError(description: "\(path): missing or unreadable") }
        return data
    }

    /// "'KEY' is missing", "'KEY' is not an integer", "the text is not valid JSON", …
    static func describe(_ error: DecodingError) -> String {
        let (path, why): ([CodingKey], String)
        switch error {
        case .keyNotFound(let key, let c): (path, why) = (c.codingPath + [key], "is missing")
        case .typeMismatch(let type, let c): (path, why) = (c.codingPath, "is not \(kind(type))")
        case .valueNotFound(let type, let c): (path, why) = (c.codingPath, "is null, expected \(kind(type))")
        case .dataCorrupted(let c): (path, why) = (c.codingPath, c.codingPath.isEmpty ? "is not valid JSON" : "is out of range or malformed")
        @unknown default: (path, why) = ([], "\(error)")
        }
        let parts: [String] = path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }
        let key = String(parts.joined(separator: "").drop { $0 == "." })
        return "\(key.isEmpty ? "the text" : "'\(key)'") \(why)"
    }

    /// A decoded type as the file's author knows it.
    static func kind(_ type: Any.Type) -> String {
        switch "\(type)" {
        case let t where t.hasPrefix("Array"): return "a list"
        case let t where t.hasPrefix("Dictionary"): return "a JSON object"
        case "Int", "UInt64": return "an integer"
        case "Float", "Double": return "a number"
        case "String": return "a string"
        default: return "\(type)"
        }
    }
}
