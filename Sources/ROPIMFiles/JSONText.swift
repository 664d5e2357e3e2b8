// The one JSON string escaper of the project: the safetensors header and the config loader's JSON both
// write their strings through it.

import Foundation

public enum JSONText {
    /// `s` as a JSON string literal, quotes included: Foundation's escaping (quote, backslash and control
    /// characters), slashes and non-ASCII characters written as they are.
    public static func quoted(_ s: String) -> String {
        let d = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
        let arr = String(decoding: d, as: UTF8.self)
        return String(arr.dropFirst().dropLast())
    }
}
