// Range checks for numbers a user can type (config keys, flags). Each owner's `validate()` calls these
// once for each of its keys; the message names the key, the allowed range and the value. NaN and ±inf
// are outside every range.

public enum Check {
    /// nil when `v` is in `range`, else "KEY must be in LO...HI, got V".
    public static func int(_ key: String, _ v: Int, _ range: ClosedRange<Int>, _ why: String = "") -> String? {
        range.contains(v) ? nil : "\(key) must be in \(range.lowerBound)...\(range.upperBound)\(why), got \(v)"
    }

    /// nil when `v` is a finite number in `range` (and above the lower bound when `open`), else the message.
    public static func real(_ key: String, _ v: Double, _ range: ClosedRange<Double>, lowerOpen: Bool = false,
                            upperOpen: Bool = false, _ why: String = "") -> String? {
        let ok = v.isFinite && range.contains(v) && !(lowerOpen && v == range.lowerBound) && !(upperOpen && v == range.upperBound)
        if ok { return nil }
        let lo = lowerOpen ? "(" : "[", hi = upperOpen ? ")" : "]"
        return "\(key) must be a finite number in \(lo)\(range.lowerBound), \(range.upperBound)\(hi)\(why), got \(v)"
    }

    /// nil when every value is finite, else "N of M values are NaN or infinite (the first at index I)": for
    /// weights read from a file, features and losses, which must never pass on silently.
    public static func finite<C: Collection>(_ values: C) -> String? where C.Element == Float, C.Index == Int {
        guard let first = values.firstIndex(where: { !$0.isFinite }) else { return nil }
        let bad = values[first...].reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
        return "\(bad) of \(values.count) values are NaN or infinite (the first at index \(first - values.startIndex))"
    }

    /// Throws `make(message)` for the first failed check.
    public static func all<E: Error>(_ checks: [String?], _ make: (String) -> E) throws {
        if let m = checks.lazy.compactMap({ $0 }).first { throw make(m) }
    }
}
