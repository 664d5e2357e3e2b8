// Fuzzing every format ropim reads from files (issue 14): random mutations of small valid files (bit flips,
// byte sets, truncations, insertions, deletions, header fields set to extreme values) must give a clean
// DataError or a well-formed result, never a trap, a hang or a large allocation. Seeded: a failure
// reproduces. A trial that traps kills the test process; its input is then left at the path printed first.
// ROPIM_FUZZ_SEED=<n> changes the seeds and ROPIM_FUZZ_SCALE=<k> runs k times the trials, for longer local runs.

import Foundation
import XCTest
@testable import ROPIMKernels
@testable import ROPIMData

/// Random edits of a byte string; `header` is where the format's size fields live (edited more often).
struct Mutator {
    var rng: RNG
    static let extremes: [UInt32] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE, 1 << 20]

    mutating func mutate(_ input: [UInt8], header: Range<Int>) -> [UInt8] {
        var b = input
        for _ in 0..<1 + rng.int(below: 3) {
            guard !b.isEmpty else { break }
            switch rng.int(below: 8) {
            case 0:   // flip one bit
                b[rng.int(below: b.count)] ^= UInt8(1 << rng.int(below: 8))
            case 1:   // set a byte
                b[rng.int(below: b.count)] = UInt8(rng.int(below: 256))
            case 2:   // truncate
                b = Array(b.prefix(rng.int(below: b.count)))
            case 3, 4:   // a 1-, 2- or 4-byte header field to an extreme value, either byte order
                let width = [1, 2, 4][rng.int(below: 3)]
                let lo = min(header.lowerBound, b.count), hi = min(header.upperBound, b.count)
                guard hi - lo >= width else { break }
                let at = lo + rng.int(below: hi - lo - width + 1)
                let v = Mutator.extremes[rng.int(below: Mutator.extremes.count)]
                let bytes = (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
                b.replaceSubrange(at..<at + width, with: rng.bernoulli(0.5) ? bytes : bytes.reversed())
            case 5:   // insert random bytes
                let at = rng.int(below: b.count + 1)
                b.insert(contentsOf: (0..<1 + rng.int(below: 16)).map { _ in UInt8(rng.int(below: 256)) }, at: at)
            case 6:   // delete a span
                let at = rng.int(below: b.count)
                b.removeSubrange(at..<min(b.count, at + 1 + rng.int(below: 16)))
            default:   // duplicate a span (repeated chunks, markers)
                let at = rng.int(below: b.count)
                let span = Array(b[at..<min(b.count, at + 1 + rng.int(below: 64))])
                b.insert(contentsOf: span, at: rng.int(below: b.count + 1))
            }
        }
        return b
    }
}

final class FuzzTests: XCTestCase {
    static let scale = Int(ProcessInfo.processInfo.environment["ROPIM_FUZZ_SCALE"] ?? "") ?? 1
    static let seed = UInt64(ProcessInfo.processInfo.environment["ROPIM_FUZZ_SEED"] ?? "") ?? 14

    var dir = ""

    override func setUp() { dir = scratchFolder("fuzz") }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// Runs `trials` mutations of the inputs `make(rng)` returns (bytes, header range); `attempt` must return
    /// normally or throw a DataError naming the input's file. Checks the memory spent, and the time only as a guard
    /// against hangs (the bound is far above the ~1 s a format takes, for a shared, busy machine).
    func fuzz(_ name: String, stream: UInt64, trials: Int, seconds: Double,
              make: (inout RNG) throws -> (bytes: [UInt8], header: Range<Int>), attempt: ([UInt8], String) throws -> Void) throws {
        var rng = RNG(seed: FuzzTests.seed).derived(stream: stream)
        var mutator = Mutator(rng: rng.derived(stream: 1))
        let last = (NSTemporaryDirectory() as NSString).appendingPathComponent("ropim-fuzz-\(name)-last-input")
        print("fuzz \(name): seed \(FuzzTests.seed), \(trials * FuzzTests.scale) trials; an input that traps is left at \(last)")
        let start = Date(), memory = peakMemoryMiB()
        var (accepted, rejected) = (0, 0)
        for trial in 0..<trials * FuzzTests.scale {
            let seedInput = try make(&rng)
            let input = trial % 10 == 0 ? seedInput.bytes : mutator.mutate(seedInput.bytes, header: seedInput.header)
            try Data(input).write(to: URL(fileURLWithPath: last))
            do {
                try attempt(input, last)
                accepted += 1
            } catch let e as DataError {
                XCTAssertTrue(e.description.contains(last), "\(name) trial \(trial): error does not name the file: \(e)")
                rejected += 1
            } catch {
                XCTFail("\(name) trial \(trial): not a DataError: \(error) (input at \(last))")
                return
            }
        }
        try? FileManager.default.removeItem(atPath: last)
        let took = Date().timeIntervalSince(start)
        print("fuzz \(name): \(accepted) accepted, \(rejected) rejected cleanly in \(String(format: "%.1f", took)) s")
        XCTAssertGreaterThan(accepted, 0, "\(name): even the unmutated inputs failed")
        XCTAssertGreaterThan(rejected, 0, "\(name): no mutation was rejected; the fuzzer is not reaching the checks")
        XCTAssertLessThan(took, seconds * Double(FuzzTests.scale), "\(name): too slow")
        XCTAssertLessThan(peakMemoryMiB() - memory, 300, "\(name): a mutated header made a reader allocate")
    }

    /// IDX images and labels, raw: header fields (magic, sizes) and payload.
    func testFuzzIDXRaw() throws {
        let images = IDX.encodeImages((0..<3 * 5 * 4).map { UInt8($0) }, count: 3, height: 5, width: 4)
        let labels = IDX.encodeLabels([0, 1, 2, 9])
        try fuzz("idx", stream: 1, trials: 600, seconds: 30, make: { rng in
            rng.bernoulli(0.7) ? (images, 0..<16) : (labels, 0..<8)
        }, attempt: { bytes, path in
            let isLabels = bytes.count >= 4 && bytes[3] == 1
            if isLabels { _ = try IDX.readLabels(path: path) } else {
                let r = try IDX.readImages(path: path)
                XCTAssertEqual(r.pixels.count, r.count * r.height * r.width)
            }
        })
    }

    /// IDX gzip'd: the mutation hits either the header before compression (so the stream is valid and the
    /// sizes lie) or the compressed stream itself.
    func testFuzzIDXGzip() throws {
        let payload = (0..<4 * 6 * 5).map { UInt8($0 * 7 % 256) }
        let images = IDX.encodeImages(payload, count: 4, height: 6, width: 5)
        let tmp = dir + "/seed.gz"
        try IDX.writeFile(images, path: tmp, gzip: true)
        let gz = [UInt8](try Data(contentsOf: URL(fileURLWithPath: tmp)))
        var inner = Mutator(rng: RNG(seed: FuzzTests.seed).derived(stream: 99))
        try fuzz("idx-gz", stream: 2, trials: 600, seconds: 30, make: { rng in
            guard rng.bernoulli(0.5) else { return (gz, 0..<12) }   // gzip header fields
            try IDX.writeFile(inner.mutate(images, header: 0..<16), path: tmp, gzip: true)
            return ([UInt8](try Data(contentsOf: URL(fileURLWithPath: tmp))), 0..<0)   // plus a rare mutation of the stream
        }, attempt: { _, path in
            let r = try IDX.readImages(path: path)
            XCTAssertEqual(r.pixels.count, r.count * r.height * r.width)
        })
    }

    /// The packed cache: header and meta JSON; a cache that opens is read in full (every image and label).
    /// The seed file is assembled here (fixed meta, no temporary paths or times in it), so runs repeat exactly.
    func testFuzzPackedCache() throws {
        var rng = RNG(seed: 3)
        let meta = PackedCache.Meta(source: "/fuzz/imgs", files: 3, fingerprint: "0123456789abcdef", classNames: ["c0", "c1"])
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let metaData = try encoder.encode(meta)
        var cache = [UInt8](PackedCache.header(channels: 3, size: 4, count: 3, classes: 2, metaBytes: metaData.count) + metaData)
        cache += [UInt8](repeating: 0, count: PackedCache.align(cache.count) - cache.count)
        cache += (0..<3 * 48).map { _ in UInt8(rng.int(below: 256)) }
        for label: Int32 in [0, 1, 1] { withUnsafeBytes(of: label.littleEndian) { cache += $0 } }
        let path = dir + "/seed.pack"
        writeBytes(cache, path)
        XCTAssertEqual(try PackedCache(path: path).count, 3, "the seed file is a valid cache")
        let metaEnd = PackedCache.fixedHeader + metaData.count
        try fuzz("cache", stream: 3, trials: 600, seconds: 30, make: { rng in
            (cache, rng.bernoulli(0.7) ? 0..<PackedCache.fixedHeader : PackedCache.fixedHeader..<metaEnd)
        }, attempt: { _, path in
            let c = try PackedCache(path: path)
            var sum = 0
            for i in 0..<c.count {
                _ = c.label(i)
                sum += try c.withImage(i) { v in (0..<v.channels * v.height * v.width).reduce(0) { $0 + Int(v.pixels[$1]) } }
            }
            XCTAssertGreaterThanOrEqual(sum, 0)
        })
    }

    /// PNG: the fixtures (every colour type, bit depth, palette, Adam7) and random well-formed PNGs of every
    /// kind with random filter bytes; mutated as bytes, with the CRCs recomputed 80 % of the time so the
    /// mutation reaches the decoder past the CRC check.
    func testFuzzPNG() throws {
        let fixtures = ImageFixture.all.filter { $0.name.hasSuffix(".png") }.map { [UInt8](Data(base64Encoded: $0.file)!) }
        let kinds: [(colorType: Int, depths: [Int], samples: Int)] = [(0, [1, 2, 4, 8, 16], 1), (2, [8, 16], 3), (3, [1, 2, 4, 8], 1),
                                                                       (4, [8, 16], 2), (6, [8, 16], 4)]
        var fixCRC = false
        try fuzz("png", stream: 4, trials: 2000, seconds: 30, make: { rng in
            fixCRC = rng.bernoulli(0.8)
            if rng.bernoulli(0.4) { return (fixtures[rng.int(below: fixtures.count)], 8..<33) }
            let kind = kinds[rng.int(below: kinds.count)]
            let depth = kind.depths[rng.int(below: kind.depths.count)]
            let (w, h, interlaced) = (1 + rng.int(below: 12), 1 + rng.int(below: 12), rng.bernoulli(0.5))
            let passes = interlaced ? PNGDecoder.adam7 : [(0, 0, 1, 1)]
            var raw = [UInt8]()
            for p in passes {
                let (pw, ph) = (w > p.0 ? (w - p.0 + p.2 - 1) / p.2 : 0, h > p.1 ? (h - p.1 + p.3 - 1) / p.3 : 0)
                guard pw > 0 && ph > 0 else { continue }
                for _ in 0..<ph {
                    raw.append(UInt8(rng.bernoulli(0.02) ? rng.int(below: 256) : rng.int(below: 5)))   // rarely an unknown filter
                    raw += (0..<(pw * kind.samples * depth + 7) / 8).map { _ in UInt8(rng.int(below: 256)) }
                }
            }
            if rng.bernoulli(0.2) {   // image data shorter or longer than the header's size needs
                let cut = rng.int(below: raw.count + 1)
                raw = rng.bernoulli(0.5) ? Array(raw.prefix(cut)) : raw + raw.prefix(cut)
            }
            let palette = kind.colorType == 3 ? (0..<3 * (1 + rng.int(below: 256))).map { _ in UInt8(rng.int(below: 256)) } : nil
            return (makePNG(width: w, height: h, bitDepth: depth, colorType: kind.colorType, interlaced: interlaced,
                            palette: palette, raw: raw), 8..<33)
        }, attempt: { bytes, path in
            let input = fixCRC ? withPNGCRCsFixed(bytes) : bytes
            for channels in [1, 3] {
                let img = try input.withUnsafeBytes { try ImageCodec.decode($0, path: path, channels: channels) }
                XCTAssertEqual(img.pixels.count, channels * img.height * img.width)
            }
        })
    }

    /// JPEG: the fixtures (baseline 4:4:4 / 4:2:0, progressive, grey, Adobe CMYK, YCCK, extraneous bytes).
    func testFuzzJPEG() throws {
        let fixtures = ImageFixture.all.filter { $0.name.hasSuffix(".jpg") && $0.pilMode != nil }.map { [UInt8](Data(base64Encoded: $0.file)!) }
        try fuzz("jpeg", stream: 5, trials: 1500, seconds: 30, make: { rng in
            let f = fixtures[rng.int(below: fixtures.count)]
            return (f, 0..<min(f.count, 400))   // the tables and the frame header
        }, attempt: { bytes, path in
            for channels in [1, 3] {
                let img = try bytes.withUnsafeBytes { try ImageCodec.decode($0, path: path, channels: channels) }
                XCTAssertEqual(img.pixels.count, channels * img.height * img.width)
            }
        })
    }
}
