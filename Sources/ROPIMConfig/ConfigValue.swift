// The loader's view of a config: JSON's data model with mapping order kept, plus the encoder that
// turns a `Codable` defaults value into it (so the resolved YAML lists keys in declaration order).
import Foundation
import ROPIMFiles

/// A config tree. Mappings keep insertion order: an encoded struct lists its keys in declaration order.
indirect enum ConfigValue: Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case sequence([ConfigValue])
    case mapping([(key: String, value: ConfigValue)])

    static func == (lhs: ConfigValue, rhs: ConfigValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.double(a), .double(b)): return a == b || (a.isNaN && b.isNaN)
        case let (.string(a), .string(b)): return a == b
        case let (.sequence(a), .sequence(b)): return a == b
        case let (.mapping(a), .mapping(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// What a value of this kind is called in "expects ..." messages.
    var expectation: String {
        switch self {
        case .null: return "a value"
        case .bool: return "true or false"
        case .int: return "an integer"
        case .double: return "a number"
        case .string: return "a string"
        case .sequence: return "a list"
        case let .mapping(entries):
            return entries.isEmpty ? "a mapping" : "a mapping with keys " + entries.map(\.key).joined(separator: ", ")
        }
    }

    /// JSON text for `JSONDecoder`. Non-finite doubles become the strings the decoder is told to accept.
    func json() -> String {
        var out = ""
        writeJSON(into: &out)
        return out
    }

    private func writeJSON(into out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .double(d):
            if d.isNaN { out += "\"\(ConfigValue.nanText)\"" }
            else if d.isInfinite { out += d > 0 ? "\"\(ConfigValue.infText)\"" : "\"-\(ConfigValue.infText)\"" }
            else { out += "\(d)" }
        case let .string(s): out += JSONText.quoted(s)
        case let .sequence(items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.writeJSON(into: &out)
            }
            out += "]"
        case let .mapping(entries):
            out += "{"
            for (i, entry) in entries.enumerated() {
                if i > 0 { out += "," }
                out += JSONText.quoted(entry.key) + ":"
                entry.value.writeJSON(into: &out)
            }
            out += "}"
        }
    }

    static let infText = "inf", nanText = "nan"
}

// MARK: - Plain scalars

/// How a plain (unquoted) YAML scalar reads, following the YAML 1.2 core schema, with `_` digit
/// separators allowed in numbers (`1_000_000`). `yes`/`no`/`on`/`off` stay strings (no "Norway problem").
enum PlainScalar {
    static func value(of text: String) -> ConfigValue {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .double(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .double(-.infinity)
        case ".nan", ".NaN", ".NAN": return .double(.nan)
        default: break
        }
        guard let number = numberShape(text) else { return .string(text) }
        let digits = text.replacingOccurrences(of: "_", with: "")
        if number == .integer, let i = Int(digits) { return .int(i) }
        if let d = Double(digits), d.isFinite { return .double(d) }
        return .string(text)  // out of range: reported by the type check as the text it is
    }

    private enum Shape { case integer, float }

    /// `[-+]? (digits ('.' digits?)? | '.' digits) ([eE] [-+]? digits)?`, digits allowing inner `_`.
    private static func numberShape(_ text: String) -> Shape? {
        var chars = Substring(text)
        if chars.first == "+" || chars.first == "-" { chars = chars.dropFirst() }
        func digits() -> Int {
            var n = 0
            while let c = chars.first, c.isASCII, c.isNumber || (c == "_" && n > 0) {
                if c != "_" { n += 1 }
                chars = chars.dropFirst()
            }
            return n
        }
        let whole = digits()
        var shape = Shape.integer
        if chars.first == "." {
            chars = chars.dropFirst()
            shape = .float
            if digits() == 0 && whole == 0 { return nil }
        } else if whole == 0 {
            return nil
        }
        if chars.first == "e" || chars.first == "E" {
            chars = chars.dropFirst()
            if chars.first == "+" || chars.first == "-" { chars = chars.dropFirst() }
            if digits() == 0 { return nil }
            shape = .float
        }
        return chars.isEmpty && !text.hasSuffix("_") ? shape : nil
    }
}

// MARK: - Encoding defaults

/// Encodes a value into a `ConfigValue`, turning Swift's camelCase coding keys into snake_case YAML
/// keys and remembering the mapping back (`keyNames`) so decoding restores the exact original key.
final class ConfigTreeEncoder {
    private(set) var keyNames: [String: String] = [:]
    private var collisions: [String] = []

    func encode<T: Encodable>(_ value: T) throws -> ConfigValue {
        let root = Slot()
        try store(value, in: root, codingPath: [])
        if let collision = collisions.first { throw ConfigError(collision) }
        return root.value
    }

    /// `embedDim` → `embed_dim`, `baseLR` → `base_lr`, `lrWarmupEpochs` → `lr_warmup_epochs`.
    static func snakeCase(_ key: String) -> String {
        guard key.contains(where: \.isUppercase) else { return key }
        let chars = Array(key)
        var out = ""
        for (i, c) in chars.enumerated() {
            guard c.isUppercase else { out.append(c); continue }
            if i > 0 {
                let prev = chars[i - 1]
                let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if prev.isLowercase || prev.isNumber || (prev.isUppercase && nextIsLower) { out += "_" }
            }
            out += c.lowercased()
        }
        return out
    }

    fileprivate func yamlKey(_ key: CodingKey) -> String {
        let name = ConfigTreeEncoder.snakeCase(key.stringValue)
        if let existing = keyNames[name], existing != key.stringValue {
            collisions.append("config keys '\(existing)' and '\(key.stringValue)' both become '\(name)' in YAML; rename one")
        }
        keyNames[name] = key.stringValue
        return name
    }

    fileprivate func store<T: Encodable>(_ value: T, in slot: Slot, codingPath: [CodingKey]) throws {
        if let leaf = try leafValue(value, codingPath: codingPath) {
            slot.content = .leaf(leaf)
        } else {
            try value.encode(to: SlotEncoder(owner: self, slot: slot, codingPath: codingPath))
        }
    }

    private func leafValue(_ value: Any, codingPath: [CodingKey]) throws -> ConfigValue? {
        func integer<I: BinaryInteger>(_ i: I) throws -> ConfigValue {
            guard let v = Int(exactly: i) else {
                throw EncodingError.invalidValue(i, .init(codingPath: codingPath, debugDescription: "\(i) does not fit in Int"))
            }
            return .int(v)
        }
        switch value {
        case let v as Bool: return .bool(v)
        case let v as String: return .string(v)
        case let v as Double: return .double(v)
        // Via the shortest text so 0.1 as Float prints as 0.1, not 0.10000000149011612.
        case let v as Float: return .double(v.isFinite ? Double("\(v)")! : Double(v))
        case let v as Int: return .int(v)
        case let v as Int8: return try integer(v)
        case let v as Int16: return try integer(v)
        case let v as Int32: return try integer(v)
        case let v as Int64: return try integer(v)
        case let v as UInt: return try integer(v)
        case let v as UInt8: return try integer(v)
        case let v as UInt16: return try integer(v)
        case let v as UInt32: return try integer(v)
        case let v as UInt64: return try integer(v)
        default: return nil
        }
    }
}

/// Where one encoded value lands; containers fill it in place.
private final class Slot {
    enum Content {
        case empty
        case leaf(ConfigValue)
        case keyed(keys: [String], slots: [String: Slot])
        case unkeyed([Slot])
    }
    var content = Content.empty

    var value: ConfigValue {
        switch content {
        case .empty: return .mapping([])
        case let .leaf(v): return v
        case let .keyed(keys, slots): return .mapping(keys.map { (key: $0, value: slots[$0]!.value) })
        case let .unkeyed(items): return .sequence(items.map(\.value))
        }
    }

    func child(forKey key: String) -> Slot {
        var (keys, slots): ([String], [String: Slot]) = ([], [:])
        if case let .keyed(k, s) = content { (keys, slots) = (k, s) }
        if let existing = slots[key] { return existing }
        let slot = Slot()
        keys.append(key)
        slots[key] = slot
        content = .keyed(keys: keys, slots: slots)
        return slot
    }

    func appendChild() -> Slot {
        var items: [Slot] = []
        if case let .unkeyed(existing) = content { items = existing }
        let slot = Slot()
        items.append(slot)
        content = .unkeyed(items)
        return slot
    }

    var childCount: Int {
        if case let .unkeyed(items) = content { return items.count }
        return 0
    }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue!)" }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue: String) {}
    init?(intValue: Int) { nil }
}

private struct SlotEncoder: Encoder {
    let owner: ConfigTreeEncoder
    let slot: Slot
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .keyed = slot.content {} else { slot.content = .keyed(keys: [], slots: [:]) }
        return KeyedEncodingContainer(KeyedSlotContainer<Key>(owner: owner, slot: slot, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if case .unkeyed = slot.content {} else { slot.content = .unkeyed([]) }
        return UnkeyedSlotContainer(owner: owner, slot: slot, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer {
        SingleSlotContainer(owner: owner, slot: slot, codingPath: codingPath)
    }
}

private struct KeyedSlotContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let owner: ConfigTreeEncoder
    let slot: Slot
    let codingPath: [CodingKey]

    private func child(_ key: CodingKey) -> Slot { slot.child(forKey: owner.yamlKey(key)) }

    mutating func encodeNil(forKey key: Key) throws { child(key).content = .leaf(.null) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try owner.store(value, in: child(key), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        SlotEncoder(owner: owner, slot: child(key), codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
        SlotEncoder(owner: owner, slot: child(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder {
        SlotEncoder(owner: owner, slot: child(SuperKey()), codingPath: codingPath + [SuperKey()])
    }

    mutating func superEncoder(forKey key: Key) -> Encoder {
        SlotEncoder(owner: owner, slot: child(key), codingPath: codingPath + [key])
    }
}

private struct UnkeyedSlotContainer: UnkeyedEncodingContainer {
    let owner: ConfigTreeEncoder
    let slot: Slot
    let codingPath: [CodingKey]
    var count: Int { slot.childCount }

    private func next() -> (Slot, [CodingKey]) {
        let path = codingPath + [IndexKey(count)]
        return (slot.appendChild(), path)
    }

    mutating func encodeNil() throws { next().0.content = .leaf(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let (child, path) = next()
        try owner.store(value, in: child, codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let (child, path) = next()
        return SlotEncoder(owner: owner, slot: child, codingPath: path).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        let (child, path) = next()
        return SlotEncoder(owner: owner, slot: child, codingPath: path).unkeyedContainer()
    }

    mutating func superEncoder() -> Encoder {
        let (child, path) = next()
        return SlotEncoder(owner: owner, slot: child, codingPath: path)
    }
}

private struct SingleSlotContainer: SingleValueEncodingContainer {
    let owner: ConfigTreeEncoder
    let slot: Slot
    let codingPath: [CodingKey]

    mutating func encodeNil() throws { slot.content = .leaf(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try owner.store(value, in: slot, codingPath: codingPath)
    }
}
