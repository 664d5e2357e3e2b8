// Linear maps along the token axis of one image's [K, cols] rows: what a corruption keeps, where a loss
// looks. Pictures and the corruption analysis apply them to pixels; training applies the same maps
// through the objectives' batched kernels.

import ROPIMKernels

public enum TokenOperator {
    /// Π·X (ROPIM's input corruption).
    case project(CountSketch, ProjectorScale)
    /// (I − Π)·X (ROPIM's loss view).
    case complement(CountSketch, ProjectorScale)
    /// Keeps rows where `keep[i]`, zeroes the others (masking).
    case rows([Bool])
    case identity

    /// op·x for x [K, cols] row-major.
    public func apply(_ x: [Float], cols: Int) -> [Float] {
        var out = x
        switch self {
        case let .project(s, scale), let .complement(s, scale):
            precondition(x.count == s.tokens * cols, "\(x.count) values for \(s.tokens)×\(cols)")
            var scratch = [Float](repeating: 0, count: s.buckets * cols)
            x.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    scratch.withUnsafeMutableBufferPointer { sc in
                        if case .project = self {
                            s.project(src.baseAddress!, cols: cols, scale: scale, scratch: sc.baseAddress!, into: dst.baseAddress!)
                        } else {
                            s.projectComplement(src.baseAddress!, cols: cols, scale: scale, scratch: sc.baseAddress!, into: dst.baseAddress!)
                        }
                    }
                }
            }
        case let .rows(keep):
            precondition(x.count == keep.count * cols, "\(x.count) values for \(keep.count)×\(cols)")
            for (i, k) in keep.enumerated() where !k { for c in 0..<cols { out[i * cols + c] = 0 } }
        case .identity: break
        }
        return out
    }

    /// The rows this operator leaves non-zero in the loss (all of them for projections and identity).
    public var lossRowCount: Int? {
        if case let .rows(keep) = self { return keep.filter { $0 }.count }
        return nil
    }
}
