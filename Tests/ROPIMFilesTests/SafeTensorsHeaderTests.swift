// Crafted and damaged safetensors headers (issue 14, fault-07): every number is checked before anything is
// allocated, and each error names the file and the tensor; F16/BF16/F64 tensors read as Float; a seeded fuzz.

import Foundation
import XCTest
import ROPIMKernels
import ROPIMTestSupport
@testable import ROPIMFiles

final class SafeTensorsHeaderTests: ScratchTestCase {
    static func bytes(header: Any, data: [UInt8]) -> [UInt8] { safetensorsBytes(header: header, data: data) }

    func write(_ name: String, _ bytes: [UInt8]) -> String {
        let path = dir + "/" + name
        try! Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func assertRejected(_ name: String, _ bytes: [UInt8], _ parts: [String], file: StaticString = #filePath, line: UInt = #line) {
        let path = write(name, bytes)
        XCTAssertThrowsError(try SafeTensors.read(path), file: file, line: line) { error in
            XCTAssert(error is SafeTensorsError, "\(error)", file: file, line: line)
            for p in [path] + parts { XCTAssert("\(error)".contains(p), "'\(p)' not in: \(error)", file: file, line: line) }
        }
    }

    /// fault-07's four files (the header's numbers overflow or are negative), and the other ways a header lies.
    func testCraftedHeadersAreCleanErrorsNamingFileAndTensor() {
        func one(_ entry: [String: Any], data: Int = 64) -> [UInt8] {
            Self.bytes(header: ["__metadata__": [String: String](), "t": entry], data: [UInt8](repeating: 0, count: data))
        }
        assertRejected("overflow_shape", one(["dtype": "F32", "shape": [1 << 62, 4], "data_offsets": [0, 16]]), ["'t'", "more elements than an Int"])
        assertRejected("overflow_bytes", one(["dtype": "F32", "shape": [1 << 61], "data_offsets": [0, 16]]), ["'t'", "more than an Int can count"])
        assertRejected("negative_shape", one(["dtype": "F32", "shape": [-2], "data_offsets": [0, -8]]), ["'t'", "non-negative"])
        assertRejected("intmin_offset", one(["dtype": "F32", "shape": [4], "data_offsets": [Int.min, 0]]), ["'t'", "0 ≤ begin ≤ end"])
        assertRejected("reversed", one(["dtype": "F32", "shape": [0], "data_offsets": [16, 0]]), ["'t'", "data_offsets"])
        assertRejected("beyond", one(["dtype": "F32", "shape": [32], "data_offsets": [0, 128]]), ["'t'", "truncated"])
        assertRejected("trailing", one(["dtype": "F32", "shape": [4], "data_offsets": [0, 16]]), ["trailing bytes"])
        assertRejected("fraction", one(["dtype": "F32", "shape": [2.5], "data_offsets": [0, 10]]), ["'t'", "'shape'"])
        assertRejected("int64", one(["dtype": "I64", "shape": [8], "data_offsets": [0, 64]]), ["'t'", "dtype I64", "t.float()"])
        assertRejected("no dtype", one(["shape": [16], "data_offsets": [0, 64]]), ["'t'", "'dtype'"])
        assertRejected("not an object", Self.bytes(header: ["t": [1, 2]], data: []), ["'t'", "not an object"])
        let two = { (a: [Int], b: [Int]) in
            Self.bytes(header: ["a": ["dtype": "F32", "shape": [2], "data_offsets": a], "b": ["dtype": "F32", "shape": [2], "data_offsets": b]],
                       data: [UInt8](repeating: 0, count: 16))
        }
        assertRejected("overlap", two([0, 8], [4, 12]), ["overlap"])
        assertRejected("gap", two([0, 8], [12, 20]), ["gap"])
        XCTAssertNoThrow(try SafeTensors.read(write("out-of-order", two([8, 16], [0, 8]))), "order in the header is free")
        // The header itself: longer than the file, longer than the format allows, not UTF-8, not an object, nesting.
        var long = one(["dtype": "F32", "shape": [16], "data_offsets": [0, 64]])
        long.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) })
        assertRejected("long", long, ["header length 1099511627776 exceeds the file size"])
        let huge = [UInt8](repeating: 0x20, count: SafeTensors.maxHeaderBytes + 8)
        assertRejected("huge", withUnsafeBytes(of: UInt64(huge.count).littleEndian) { Array($0) } + huge, ["above the format's limit"])
        let latin1 = [UInt8]("{\"caf".utf8) + [0xE9] + [UInt8]("\":1}   ".utf8)
        assertRejected("latin1", withUnsafeBytes(of: UInt64(8).littleEndian) { Array($0) } + latin1, ["not UTF-8"])
        assertRejected("list", Self.bytes(header: [1, 2, 3], data: []), ["not a valid JSON object"])
        let deep = [UInt8](("{\"a\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}").utf8)
        assertRejected("deep", withUnsafeBytes(of: UInt64(deep.count).littleEndian) { Array($0) } + deep, ["not a valid JSON object"])
        assertRejected("short", [1, 2, 3], ["only 3 bytes"])
        XCTAssertThrowsError(try SafeTensors.read(dir)) { XCTAssert("\($0)".contains("is a folder"), "\($0)") }
    }

    /// fault-21: a non-string metadata value (`"step": 5`) is named with the fix, not read as "no metadata".
    func testMetadataValuesMustBeStrings() {
        assertRejected("meta", Self.bytes(header: ["__metadata__": ["format": "ropim-pretrain", "step": 5]], data: []),
                       ["__metadata__ key 'step' holds a number (5)", "\"step\": \"5\""])
    }

    /// Names and metadata with quotes, backslashes, control characters and non-ASCII text survive the writer's escaping.
    func testEscapedNamesAndMetadataRoundTrip() throws {
        let odd = "a\"b\\c\nd\te\u{1}f/ü漢😀"
        let path = dir + "/odd.safetensors"
        try SafeTensors.write([NamedTensor(name: odd, shape: [1], values: [2])], metadata: [odd: odd, "yaml": "model:\n  depth: 2\n"], to: path)
        let (ts, meta) = try SafeTensors.read(path)
        XCTAssertEqual(ts.map(\.name), [odd])
        XCTAssertEqual(meta, [odd: odd, "yaml": "model:\n  depth: 2\n"])
    }

    /// F16 and BF16 (timm and MAE releases) and F64 read as Float, exactly where Float can hold the value.
    func testHalfBFloatAndDoubleTensorsReadAsFloat() throws {
        let half: [UInt16] = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x03FF, 0x8000, 0x7C00, 0xFC00, 0x3555]
        let halfExpected: [Float] = [1, -2, 65504, 0x1p-24, 1023 * 0x1p-24, -0.0, .infinity, -.infinity, 0.333251953125]
        let bf: [UInt16] = [0x3F80, 0xC049, 0x0001, 0x7F80]
        let bfExpected: [Float] = [1, Float(bitPattern: 0xC049_0000), Float(bitPattern: 0x0001_0000), .infinity]
        let doubles: [Double] = [0.1, -1e300, 3]
        var data: [UInt8] = []
        for h in half + bf { withUnsafeBytes(of: h.littleEndian) { data += $0 } }
        for d in doubles { withUnsafeBytes(of: d.bitPattern.littleEndian) { data += $0 } }
        let h = 2 * half.count, b = h + 2 * bf.count
        let header: [String: Any] = ["h": ["dtype": "F16", "shape": [half.count], "data_offsets": [0, h]],
                                     "b": ["dtype": "BF16", "shape": [2, 2], "data_offsets": [h, b]],
                                     "d": ["dtype": "F64", "shape": [3, 1], "data_offsets": [b, b + 24]]]
        let (ts, _) = try SafeTensors.read(write("mixed.safetensors", Self.bytes(header: header, data: data)))
        XCTAssertEqual(ts.map(\.name), ["h", "b", "d"])
        XCTAssertEqual(ts[0].values, halfExpected)
        XCTAssertEqual(ts[0].values[5].sign, .minus)
        XCTAssertEqual(ts[1].values, bfExpected)
        XCTAssertEqual(ts[1].shape, [2, 2])
        XCTAssertEqual(ts[2].values, [0.1, -.infinity, 3])
        XCTAssertTrue(SafeTensors.float(half: 0x7E00).isNaN)
    }

    /// Random edits of a valid file (its header as JSON, or its bytes) give a clean error or tensors of the size
    /// their shape says, never a trap or a large allocation.
    func testFuzzHeadersAndBytes() throws {
        let seedPath = dir + "/seed.safetensors"
        try SafeTensors.write([NamedTensor(name: "encoder.cls_token", shape: [1, 1, 4], values: [1, 2, 3, 4]),
                               NamedTensor(name: "encoder.blocks.0.attn.qkv.weight", shape: [3, 2], values: [1, 2, 3, 4, 5, 6])],
                              metadata: ["format": "ropim-pretrain", "step": "3"], to: seedPath)
        let seed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: seedPath)))
        let headerEnd = 8 + Int(seed.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: Data(seed[8..<headerEnd]))
        let half: [String: Any] = ["h": ["dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]],
                                   "b": ["dtype": "BF16", "shape": [2], "data_offsets": [8, 12]]]
        var json = JSONMutator(rng: RNG(seed: FuzzSettings.seed).derived(stream: 1))
        var raw = ByteMutator(rng: RNG(seed: FuzzSettings.seed).derived(stream: 2))
        let path = dir + "/trial.safetensors"
        let outcome = try fuzz("safetensors", trials: 2000, stream: 3, make: { rng, edit in
            let (tree, data) = rng.bernoulli(0.7) ? (header, Array(seed[headerEnd...])) : (half as Any, [UInt8](repeating: 0x3C, count: 12))
            var bytes = Self.bytes(header: edit && rng.bernoulli(0.7) ? json.mutate(tree) : tree, data: data)
            if edit && rng.bernoulli(0.4) { bytes = raw.mutate(bytes, within: rng.bernoulli(0.5) ? 0..<8 : nil) }
            try writeQuickly(bytes, to: path)
            return path
        }, read: { path in
            for t in try SafeTensors.read(path).tensors { XCTAssertEqual(t.values.count, t.shape.reduce(1, *)) }
        }, clean: { error, path in error is SafeTensorsError && "\(error)".contains(path) })
        outcome.check("safetensors", seconds: 60)
    }
}
