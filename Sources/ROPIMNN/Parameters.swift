// All trainable parameters of a model live in one contiguous buffer, their gradients in another,
// with named views (timm/BEiT names and torch shapes). AdamW, gradient clipping and checkpoint I/O
// are then single loops over flat memory.

import ROPIMKernels

/// A parameter's place in the flat buffers.
public struct ParamRef: Sendable, Equatable {
    public let offset: Int
    public let count: Int
}

public final class ParameterStore {
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]       // torch shape, e.g. [out, in] for linear weights
        public let ref: ParamRef
        public let decay: Bool        // AdamW weight decay applies
    }

    public private(set) var entries: [Entry] = []
    public private(set) var values = Tensor(shape: [0])
    public private(set) var grads = Tensor(shape: [0])
    private var index: [String: Int] = [:]
    private var total = 0

    public init() {}

    /// Registers a parameter (before `allocate`). No weight decay on 1-D tensors, biases, cls token,
    /// position embeddings and relative position tables (the BEiT/SimMIM rule).
    @discardableResult
    public func add(_ name: String, shape: [Int]) -> ParamRef {
        precondition(values.count == 0, "parameter \(name) registered after allocation")
        precondition(index[name] == nil, "duplicate parameter \(name)")
        let n = shape.reduce(1, *)
        let noDecay = shape.count <= 1 || name.hasSuffix(".bias") || name.hasSuffix("cls_token")
            || name.hasSuffix("pos_embed") || name.hasSuffix("relative_position_bias_table")
        let ref = ParamRef(offset: total, count: n)
        index[name] = entries.count
        entries.append(Entry(name: name, shape: shape, ref: ref, decay: !noDecay))
        total += n
        return ref
    }

    /// Allocates the flat value and gradient buffers (zeroed).
    public func allocate() {
        values = Tensor(shape: [total])
        grads = Tensor(shape: [total])
    }

    public var count: Int { total }

    @inline(__always) public func value(_ r: ParamRef) -> UnsafeMutablePointer<Float> { values.data + r.offset }
    @inline(__always) public func grad(_ r: ParamRef) -> UnsafeMutablePointer<Float> { grads.data + r.offset }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    public func zeroGrads() { grads.zero() }

    /// Fills a parameter from a generator function of the flat index.
    public func fill(_ r: ParamRef, _ f: (Int) -> Float) {
        let p = value(r)
        for i in 0..<r.count { p[i] = f(i) }
    }
}
