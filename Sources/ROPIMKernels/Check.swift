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

    /// Throws `make(message)` for the first failed check.
    public static func all<E: Error>(_ checks: [String?], _ make: (String) -> E) throws {
        if let m = checks.lazy.compactMap({ $0 }).first { throw make(m) }
    }
}
