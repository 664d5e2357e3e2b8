// Loads `Codable` config structs from YAML and `key=value` overrides, starting from the struct's
// defaults, with errors that name the file, line, dotted key and a fix. Writes the resolved config back.
//
// Conventions for config structs:
// - Swift properties are camelCase; YAML keys are their snake_case form (`embedDim` ↔ `embed_dim`).
// - The defaults value defines which keys exist: a YAML key absent from its encoded form is rejected.
//   So config structs do not use Optionals (a nil Optional is not encoded, so its key would be unknown);
//   give every field a real default instead. A key a custom `encode(to:)` writes as null accepts anything.
// - Nested structs merge key by key; lists and scalars are replaced whole. Dictionaries are not supported.
// - Plain scalars follow the YAML 1.2 core schema: `1e-3` is a float, `yes`/`on` are strings, only
//   true/false are booleans. Quoted scalars are always strings.
import Foundation
import Yams

/// A config that could not be loaded. `description` says what, where (file, line, dotted key) and how to fix it.
public struct ConfigError: Error, CustomStringConvertible, Equatable, LocalizedError {
    public let description: String
    public init(_ description: String) { self.description = description }
    public var errorDescription: String? { description }
}

public enum ConfigLoader {
    /// Decodes YAML text into `T`, starting from `defaults`: every key present in the YAML overrides the
    /// default (deep merge of mappings; sequences and scalars replace). Keys not present in `defaults`'
    /// encoded form are rejected. An empty document means "no overrides". `file` names the source in messages.
    public static func load<T: Codable>(_ type: T.Type, yaml: String, file: String, defaults: T) throws -> T {
        let schema = try Schema(defaults)
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw syntaxError(error, file: file)
        }
        var merger = Merger { mark in mark.map { "\(file), line \($0.line)" } ?? file }
        var tree = schema.tree
        if let root, !isNull(root) {
            tree = try merger.merge(root, over: tree, path: ConfigPath(), at: root.mark, fill: true)
        }
        return try decode(type, from: tree, schema: schema, locations: merger.locations, fallback: file)
    }

    /// Reads and loads the YAML file at `path` (see `load(_:yaml:file:defaults:)`).
    public static func load<T: Codable>(_ type: T.Type, path: String, defaults: T) throws -> T {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigError("config file '\(path)' does not exist (working directory: "
                              + "\(FileManager.default.currentDirectoryPath)); check the path")
        }
        guard !isDirectory.boolValue else {
            throw ConfigError("config file '\(path)' is a directory; pass the path of a .yaml file")
        }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError("config file '\(path)' could not be read as UTF-8 text "
                              + "(\(error.localizedDescription)); check its permissions and encoding")
        }
        return try load(type, yaml: text, file: path, defaults: defaults)
    }

    /// Applies `a.b.c=value` overrides on top of `base`, in order. `value` is read as a YAML scalar or
    /// flow value (`lr=1e-3`, `betas=[0.9, 0.999]`, `name="a b"`); an empty value is the empty string.
    /// The same key and type checks as `load` apply; `origin` (e.g. "--set") names the source in errors.
    public static func apply<T: Codable>(_ overrides: [String], to base: T, origin: String) throws -> T {
        guard !overrides.isEmpty else { return base }
        let schema = try Schema(base)
        var tree = schema.tree
        var locations: [String: String] = [:]
        for override in overrides {
            let source = "\(origin) '\(override)'"
            guard let equals = override.firstIndex(of: "=") else {
                throw ConfigError("\(source): expected key=value, e.g. 'model.depth=6'")
            }
            let keys = override[..<equals].trimmingCharacters(in: .whitespaces)
                .split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !keys.contains(where: \.isEmpty) else {
                throw ConfigError("\(source): '\(override[..<equals])' is not a dotted key path; write e.g. 'model.depth=6'")
            }
            let valueText = String(override[override.index(after: equals)...])
            var value: Node
            if valueText.trimmingCharacters(in: .whitespaces).isEmpty {
                value = Node("", .implicit, .doubleQuoted)
            } else {
                do {
                    value = try Yams.compose(yaml: valueText) ?? Node("", .implicit, .doubleQuoted)
                } catch let error as YamlError {
                    throw ConfigError("\(source): the value is not valid YAML (\(problem(of: error))); "
                                      + "close any brackets, or quote text that has YAML punctuation: "
                                      + "\(keys.joined(separator: "."))='\"a: b\"'")
                }
            }
            for key in keys.reversed() { value = Node([(Node(key), value)]) }
            var merger = Merger { _ in source }
            tree = try merger.merge(value, over: tree, path: ConfigPath(), at: nil, fill: true)
            locations.merge(merger.locations) { _, new in new }
        }
        return try decode(T.self, from: tree, schema: schema, locations: locations, fallback: origin)
    }

    /// The config as YAML, keys in the structs' declaration order, lists of scalars in flow style.
    /// Loading the text back with the same defaults gives an equal value.
    public static func yaml<T: Encodable>(_ value: T) throws -> String {
        let tree: ConfigValue
        do {
            tree = try ConfigTreeEncoder().encode(value)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError("could not encode \(T.self) as YAML: \(error)")
        }
        let text = try Yams.serialize(node: node(for: tree))
        return text
    }
}

// MARK: - Schema: the defaults as a tree

/// The encoded defaults: which keys exist, their default values and kinds, and the YAML → Swift key names.
private struct Schema {
    let tree: ConfigValue
    let keyNames: [String: String]
    /// The defaults themselves: the type behind a key (an enum's accepted values) is read from them.
    let defaults: Any

    init<T: Encodable>(_ defaults: T) throws {
        self.defaults = defaults
        let encoder = ConfigTreeEncoder()
        do {
            tree = try encoder.encode(defaults)
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError("could not encode the defaults of \(T.self): \(error)")
        }
        keyNames = encoder.keyNames
    }
}

/// A position in the tree, printed as `model.depth` or `augment.ops[2].p`.
private struct ConfigPath {
    enum Component { case key(String), index(Int) }
    var components: [Component] = []

    func appending(_ c: Component) -> ConfigPath { ConfigPath(components: components + [c]) }

    var dotted: String {
        var out = ""
        for c in components {
            switch c {
            case let .key(k): out += out.isEmpty ? k : "." + k
            case let .index(i): out += "[\(i)]"
            }
        }
        return out
    }
}

// MARK: - Merging YAML over the defaults

/// Walks a YAML node tree over the defaults tree, checking keys and scalar kinds as it goes.
private struct Merger {
    /// "config.yaml, line 4" for a node's mark, or "--set 'x=1'" for overrides.
    let locate: (Mark?) -> String
    /// Dotted path → location of the key that set it, for decoding errors found later.
    var locations: [String: String] = [:]

    init(locate: @escaping (Mark?) -> String) { self.locate = locate }

    /// `fill`: keys missing from a YAML mapping keep their defaults. Off for list items, where the
    /// default's first item is only a template for checking keys and kinds (lists replace whole).
    mutating func merge(_ node: Node, over def: ConfigValue, path: ConfigPath, at mark: Mark?, fill: Bool) throws -> ConfigValue {
        locations[path.dotted] = locate(mark)
        switch def {
        case let .mapping(entries):
            guard case let .mapping(mapping) = node else {
                if fill && isNull(node) { return def }  // `model:` with every child commented out
                throw mismatch(node, expected: def, path: path, at: mark)
            }
            var result = fill ? entries : []
            for (keyNode, valueNode) in mapping {
                guard case let .scalar(keyScalar) = keyNode else {
                    throw ConfigError("\(locate(keyNode.mark)): keys under '\(path.dotted.isEmpty ? "the top level" : path.dotted)' "
                                      + "must be plain names, got \(describe(keyNode))")
                }
                let key = keyScalar.string
                guard let template = entries.first(where: { $0.key == key }) else {
                    throw unknownKey(key, known: entries.map(\.key), path: path, at: keyNode.mark)
                }
                let merged = try merge(valueNode, over: template.value, path: path.appending(.key(key)),
                                       at: keyNode.mark, fill: fill)
                if let i = result.firstIndex(where: { $0.key == key }) { result[i].value = merged }
                else { result.append((key: key, value: merged)) }
            }
            return .mapping(result)

        case let .sequence(items):
            guard case let .sequence(sequence) = node else {
                throw mismatch(node, expected: def, path: path, at: mark)
            }
            return .sequence(try sequence.enumerated().map { i, item in
                let itemPath = path.appending(.index(i))
                guard let template = items.first else { return try untyped(item, path: itemPath, at: item.mark) }
                return try merge(item, over: template, path: itemPath, at: item.mark ?? mark, fill: false)
            })

        case .null:
            return try untyped(node, path: path, at: mark)

        case .bool, .int, .double, .string:
            guard case let .scalar(scalar) = node else { throw mismatch(node, expected: def, path: path, at: mark) }
            let value = scalar.style == .plain ? PlainScalar.value(of: scalar.string) : .string(scalar.string)
            switch (def, value) {
            case (.bool, .bool), (.int, .int), (.double, .double): return value
            case let (.double, .int(i)): return .double(Double(i))
            // Any non-null scalar's text is a fine string: `name: 42` is the name "42".
            case (.string, _) where value != .null: return .string(scalar.string)
            default: throw mismatch(node, expected: def, path: path, at: mark)
            }
        }
    }

    /// A node under a default that says nothing about its type (null, or an item of an empty default list).
    private mutating func untyped(_ node: Node, path: ConfigPath, at mark: Mark?) throws -> ConfigValue {
        locations[path.dotted] = locate(mark)
        switch node {
        case let .scalar(scalar):
            return scalar.style == .plain ? PlainScalar.value(of: scalar.string) : .string(scalar.string)
        case let .sequence(sequence):
            return .sequence(try sequence.enumerated().map { i, item in
                try untyped(item, path: path.appending(.index(i)), at: item.mark ?? mark)
            })
        case let .mapping(mapping):
            var entries: [(key: String, value: ConfigValue)] = []
            for (keyNode, valueNode) in mapping {
                let key = keyNode.scalar?.string ?? ""
                entries.append((key: key, value: try untyped(valueNode, path: path.appending(.key(key)), at: keyNode.mark)))
            }
            return .mapping(entries)
        case .alias:
            throw ConfigError("\(locate(mark)): YAML aliases are not supported in configs; write the value out")
        }
    }

    private func unknownKey(_ key: String, known: [String], path: ConfigPath, at mark: Mark?) -> ConfigError {
        let full = path.appending(.key(key)).dotted
        let parent = path.dotted
        let scope = parent.isEmpty ? "Known top-level keys" : "Known keys under '\(parent)'"
        var message = "\(locate(mark)): unknown key '\(full)'"
        if key == "<<" {
            message += " (YAML merge keys are not supported; write the keys out)"
        } else if let suggestion = closestKey(to: key, among: known) {
            message += "; did you mean '\(path.appending(.key(suggestion)).dotted)'?"
            if key.contains(where: \.isUppercase) && suggestion == ConfigTreeEncoder.snakeCase(key) {
                message += " (config keys are snake_case)"
            }
        }
        let end = message.hasSuffix("?") ? " " : ". "
        if known.isEmpty {
            message += end + "'\(parent)' takes no keys"
        } else {
            message += end + "\(scope): \(known.sorted().joined(separator: ", "))"
        }
        return ConfigError(message)
    }

    private func mismatch(_ node: Node, expected: ConfigValue, path: ConfigPath, at mark: Mark?) -> ConfigError {
        let got = describe(node)
        if path.components.isEmpty, case .mapping = expected {
            return ConfigError("\(locate(mark)): the top level of a config must be a mapping of keys to values "
                               + "(e.g. 'epochs: 100'), got \(got)")
        }
        var message = "\(locate(mark)): '\(path.dotted)' expects \(expected.expectation), got \(got)"
        if case let .scalar(scalar) = node, scalar.style != .plain {
            let unquoted = PlainScalar.value(of: scalar.string)
            switch (expected, unquoted) {
            case (.int, .int), (.double, .int), (.double, .double), (.bool, .bool):
                message += "; remove the quotes"
            default: break
            }
        } else if case .scalar = node, case .string = expected {
            message += "; quote it (\"null\") if you mean that text"
        }
        return ConfigError(message)
    }
}

/// How a node reads in messages: `'twelve'`, `null`, `a mapping`, `a list`.
private func describe(_ node: Node) -> String {
    switch node {
    case let .scalar(scalar):
        if scalar.style != .plain { return scalar.string.isEmpty ? "an empty value" : "the quoted string '\(scalar.string)'" }
        if case .null = PlainScalar.value(of: scalar.string) { return scalar.string.isEmpty ? "no value" : "null" }
        return "'\(scalar.string)'"
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .alias: return "an alias"
    }
}

private func isNull(_ node: Node) -> Bool {
    guard case let .scalar(scalar) = node, scalar.style == .plain else { return false }
    return PlainScalar.value(of: scalar.string) == .null
}

/// The known key closest to `key`, if it is close enough to be a likely typo.
private func closestKey(to key: String, among known: [String]) -> String? {
    func normalized(_ s: String) -> String { s.lowercased().filter { $0 != "_" && $0 != "-" } }
    if let same = known.first(where: { normalized($0) == normalized(key) }) { return same }
    // An abbreviation or expansion of exactly one known key (`prob` for `p`, `warmup` for `warmup_epochs`).
    let prefixed = known.filter { key.hasPrefix($0) || $0.hasPrefix(key) }
    if prefixed.count == 1 { return prefixed[0] }
    let scored = known.map { ($0, editDistance(key, $0)) }
    guard let (best, distance) = scored.min(by: { $0.1 < $1.1 }) else { return nil }
    let allowed = max(1, min(3, min(key.count, best.count) / 3))
    return distance <= allowed ? best : nil
}

/// Levenshtein distance counting an adjacent transposition as one edit (`dpeth` → `depth` is 1).
private func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}

// MARK: - Errors from Yams

/// Yams' problem text, with libyaml's context ("while parsing a flow sequence ...") when it has one.
private func problem(of error: YamlError) -> String {
    switch error {
    case let .scanner(context, problem, _, _), let .parser(context, problem, _, _), let .composer(context, problem, _, _):
        guard let context else { return problem }
        return "\(problem) (\(context.text) at line \(context.mark.line), column \(context.mark.column))"
    case let .reader(problem, _, _, _):
        return problem
    case let .duplicatedKeysInMapping(duplicates, _):
        return "duplicate key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) in one mapping; keep one"
    default:
        return error.description
    }
}

private func syntaxError(_ error: YamlError, file: String) -> ConfigError {
    if case let .duplicatedKeysInMapping(duplicates, context) = error {
        // libyaml accepts duplicates; Yams rejects them at the first occurrence, so say which that is.
        let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
        return ConfigError("\(file), line \(context.mark.line): key \(keys) appears more than once in the same "
                           + "mapping (first here); keep only one")
    }
    let mark: Mark?
    switch error {
    case let .scanner(_, _, m, _), let .parser(_, _, m, _), let .composer(_, _, m, _): mark = m
    default: mark = nil
    }
    let place = mark.map { "\(file): line \($0.line), column \($0.column)" } ?? file
    return ConfigError("\(place): YAML syntax error: \(problem(of: error))")
}

// MARK: - Decoding the merged tree

private struct AnyKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private func decode<T: Decodable>(_ type: T.Type, from tree: ConfigValue, schema: Schema,
                                  locations: [String: String], fallback: String) throws -> T {
    let decoder = JSONDecoder()
    let keyNames = schema.keyNames
    decoder.keyDecodingStrategy = .custom { path in
        let key = path.last!.stringValue
        return AnyKey(keyNames[key] ?? key)
    }
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(
        positiveInfinity: ConfigValue.infText, negativeInfinity: "-" + ConfigValue.infText, nan: ConfigValue.nanText)
    do {
        return try decoder.decode(type, from: Data(tree.json().utf8))
    } catch let error as DecodingError {
        throw decodingError(error, tree: tree, schema: schema, locations: locations, fallback: fallback)
    }
}

/// Maps a `DecodingError`'s coding path back to the dotted YAML key and the line that set it.
/// Most type errors are caught earlier by the merge; these are the rest (enum values, missing fields
/// of list items, a struct's own validation).
private func decodingError(_ error: DecodingError, tree: ConfigValue, schema: Schema, locations: [String: String], fallback: String) -> ConfigError {
    func resolve(_ codingPath: [CodingKey]) -> (path: String, value: ConfigValue?) {
        var path = ConfigPath(), node: ConfigValue? = tree
        for key in codingPath {
            if case let .sequence(items)? = node, let i = key.intValue {
                path = path.appending(.index(i))
                node = i < items.count ? items[i] : nil
            } else {
                let name = ConfigTreeEncoder.snakeCase(key.stringValue)
                path = path.appending(.key(name))
                if case let .mapping(entries)? = node { node = entries.first(where: { $0.key == name })?.value } else { node = nil }
            }
        }
        return (path.dotted, node)
    }
    func place(_ dotted: String) -> String {
        var probe = dotted
        while !probe.isEmpty {
            if let found = locations[probe] { return found }
            let cut = probe.lastIndex(where: { $0 == "." || $0 == "[" }) ?? probe.startIndex
            probe = String(probe[..<cut])
        }
        return locations[""] ?? fallback
    }
    func shown(_ value: ConfigValue?) -> String {
        switch value {
        case let .string(s)?: return "'\(s)'"
        case let .int(i)?: return "\(i)"
        case let .double(d)?: return "\(d)"
        case let .bool(b)?: return "\(b)"
        case .null?, nil: return "null"
        case .sequence?: return "a list"
        case .mapping?: return "a mapping"
        }
    }
    switch error {
    case let .typeMismatch(type, context), let .valueNotFound(type, context):
        let (path, value) = resolve(context.codingPath)
        return ConfigError("\(place(path)): '\(path)' expects \(typeName(type)), got \(shown(value))")
    case let .keyNotFound(key, context):
        let (path, _) = resolve(context.codingPath)
        let missing = ConfigTreeEncoder.snakeCase(key.stringValue)
        let full = path.isEmpty ? missing : "\(path).\(missing)"
        return ConfigError("\(place(path)): '\(full)' is missing; list items are replaced whole, so give every key of each item")
    case let .dataCorrupted(context):
        let (path, value) = resolve(context.codingPath)
        if let accepted = acceptedValues(at: path, in: schema) {
            return ConfigError("\(place(path)): '\(path)' has an invalid value \(shown(value)); accepted values: \(accepted.joined(separator: ", "))")
        }
        return ConfigError("\(place(path)): '\(path)' has an invalid value \(shown(value)): \(context.debugDescription)")
    @unknown default:
        return ConfigError("\(fallback): \(error)")
    }
}

/// The raw values of the enum stored at the dotted key `path` of the schema's defaults, found by walking their
/// stored properties (nil when the key does not lead to an enum with a list of cases).
private func acceptedValues(at path: String, in schema: Schema) -> [String]? {
    var node = schema.defaults
    for key in path.split(separator: ".").map(String.init) {
        let name = schema.keyNames[key] ?? key
        guard let child = Mirror(reflecting: node).children.first(where: { $0.label == name }) else { return nil }
        node = child.value
    }
    guard let cases = type(of: node) as? any CaseIterable.Type else { return nil }
    return rawValues(cases)
}

private func rawValues<E: CaseIterable>(_: E.Type) -> [String] {
    E.allCases.map { value in (value as? any RawRepresentable).map { "\($0.rawValue)" } ?? "\(value)" }
}

private func typeName(_ type: Any.Type) -> String {
    switch type {
    case is Bool.Type: return "true or false"
    case is Double.Type, is Float.Type: return "a number"
    case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type, is UInt32.Type: return "an integer"
    case is String.Type: return "a string"
    default: return "\(type)"
    }
}

// MARK: - Writing YAML

private func node(for value: ConfigValue) -> Node {
    switch value {
    case .null: return Node("null")
    case let .bool(b): return Node(b ? "true" : "false")
    case let .int(i): return Node(String(i))
    case let .double(d):
        if d.isNaN { return Node(".nan") }
        if d.isInfinite { return Node(d > 0 ? ".inf" : "-.inf") }
        return Node("\(d)")
    case let .string(s):
        // Quote text that would read back as something else (`"null"`, `"12"`, `""`); libyaml quotes the rest as needed.
        if case .string = PlainScalar.value(of: s) { return Node(s) }
        return Node(s, .implicit, .doubleQuoted)
    case let .sequence(items):
        let scalarsOnly = items.allSatisfy { if case .sequence = $0 { return false }; if case .mapping = $0 { return false }; return true }
        return Node(items.map(node(for:)), .implicit, scalarsOnly ? .flow : .block)
    case let .mapping(entries):
        return Node(entries.map { (Node($0.key), node(for: $0.value)) }, .implicit, entries.isEmpty ? .flow : .block)
    }
}
