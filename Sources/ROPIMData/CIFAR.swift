// CIFAR-10 and CIFAR-100 in their binary distribution: fixed-size records of label byte(s) then
// 3072 pixels (R, G, B planes of 32×32), already channel-first. Sizes and labels are checked strictly.

import Foundation

/// Which CIFAR-100 label a record's two label bytes give.
public enum CIFARLabels: String, Codable, CaseIterable, Sendable {
    /// 100 fine classes (the usual benchmark).
    case fine
    /// 20 superclasses.
    case coarse
}

public enum CIFAR {
    public static let side = 32
    public static let imageBytes = 3 * 32 * 32
    static let hint = "re-download the binary version (cifar-10-binary.tar.gz / cifar-100-binary.tar.gz) and extract it"

    /// Train files of CIFAR-10.
    public static let trainFiles10 = (1...5).map { "data_batch_\($0).bin" }

    /// `dir` itself or its `cifar-10-batches-bin` / `cifar-100-binary` sub-folder, whichever holds `file`.
    static func locate(_ dir: String, file: String, sub: String) -> String? {
        for d in [dir, (dir as NSString).appendingPathComponent(sub)] {
            if FileManager.default.fileExists(atPath: (d as NSString).appendingPathComponent(file)) { return d }
        }
        return nil
    }

    /// Whether `dir` looks like a CIFAR-10 (10) or CIFAR-100 (100) binary folder; nil otherwise.
    public static func detect(_ dir: String) -> Int? {
        if locate(dir, file: "data_batch_1.bin", sub: "cifar-10-batches-bin") != nil
            || locate(dir, file: "test_batch.bin", sub: "cifar-10-batches-bin") != nil { return 10 }
        if locate(dir, file: "train.bin", sub: "cifar-100-binary") != nil
            || locate(dir, file: "test.bin", sub: "cifar-100-binary") != nil { return 100 }
        return nil
    }

    /// CIFAR-10 `split` ("train": data_batch_1…5.bin, "test": test_batch.bin), labels 0…9, class names
    /// from batches.meta.txt when present.
    public static func load10(_ dir: String, split: String = "train") throws -> ImageDataset {
        guard split == "train" || split == "test" else {
            throw DataError("data.split '\(split)': CIFAR has train and test; use train (and data.val_fraction for a hold-out)")
        }
        let files = split == "train" ? trainFiles10 : ["test_batch.bin"]
        guard let root = locate(dir, file: files[0], sub: "cifar-10-batches-bin") else {
            throw DataError("\(dir): no CIFAR-10 \(split) file \(files[0]) (here or in cifar-10-batches-bin/); \(hint), "
                + "and pass --data the folder holding \(files[0])")
        }
        let missing = files.filter { !FileManager.default.fileExists(atPath: (root as NSString).appendingPathComponent($0)) }
        guard missing.isEmpty else {
            throw DataError("\(root): CIFAR-10 \(split) files \(missing.joined(separator: ", ")) are missing (incomplete extraction?); \(hint)")
        }
        var pixels = [UInt8](), labels = [Int32]()
        for f in files {
            try read((root as NSString).appendingPathComponent(f), labelBytes: 1, labelIndex: 0, classes: 10,
                     name: "CIFAR-10", pixels: &pixels, labels: &labels)
        }
        let names = classNames((root as NSString).appendingPathComponent("batches.meta.txt"), count: 10)
        return ImageDataset(count: labels.count, channels: 3, height: side, width: side, pixels: pixels, labels: labels,
                            classes: 10, source: (root as NSString).appendingPathComponent(files[0]), classNames: names)
    }

    /// CIFAR-100 `split` ("train": train.bin, "test": test.bin) with fine (100) or coarse (20) labels.
    public static func load100(_ dir: String, split: String = "train", labels which: CIFARLabels = .fine) throws -> ImageDataset {
        guard split == "train" || split == "test" else {
            throw DataError("data.split '\(split)': CIFAR has train and test; use train (and data.val_fraction for a hold-out)")
        }
        let file = split + ".bin"
        guard let root = locate(dir, file: file, sub: "cifar-100-binary") else {
            throw DataError("\(dir): no CIFAR-100 \(split) file \(file) (here or in cifar-100-binary/); \(hint), "
                + "and pass --data the folder holding \(file)")
        }
        let classes = which == .fine ? 100 : 20
        var pixels = [UInt8](), labels = [Int32]()
        let path = (root as NSString).appendingPathComponent(file)
        try read(path, labelBytes: 2, labelIndex: which == .fine ? 1 : 0, classes: classes, name: "CIFAR-100",
                 pixels: &pixels, labels: &labels)
        let names = classNames((root as NSString).appendingPathComponent("\(which.rawValue)_label_names.txt"), count: classes)
        return ImageDataset(count: labels.count, channels: 3, height: side, width: side, pixels: pixels, labels: labels,
                            classes: classes, source: path, classNames: names)
    }

    /// Appends the records of one file, checking its size is a whole number of records and every label.
    static func read(_ path: String, labelBytes: Int, labelIndex: Int, classes: Int, name: String,
                     pixels: inout [UInt8], labels: inout [Int32]) throws {
        // The size decides the record count, so it is checked before the file is read into memory.
        let size = try SizeCheck.regularFileSize(path, what: "a \(name) binary file", hint: hint)
        let record = labelBytes + imageBytes
        guard size > 0 else {
            throw DataError("\(path): the file is empty (0 bytes); an interrupted download or copy: \(hint)")
        }
        guard size % record == 0 else {
            let other = labelBytes == 1 && size % (record + 1) == 0 ? " (it divides into 3074-byte CIFAR-100 records: use --dataset cifar100)"
                : labelBytes == 2 && size % (record - 1) == 0 ? " (it divides into 3073-byte CIFAR-10 records: use --dataset cifar10)" : ""
            throw DataError("\(path): \(size) bytes is not a whole number of \(record)-byte \(name) records "
                + "(\(labelBytes) label byte\(labelBytes == 1 ? "" : "s") + 3072 pixels)\(other); truncated download or "
                + "not a \(name) binary file: \(hint)")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count == size else {
            throw DataError("\(path): cannot read all \(size) bytes (permission denied, I/O error, or the file changed while "
                + "being read); check the file")
        }
        let n = data.count / record
        let base = pixels.count
        pixels.reserveCapacity(base + n * imageBytes)
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let b = raw.bindMemory(to: UInt8.self)
            for r in 0..<n {
                let label = Int32(b[r * record + labelIndex])
                guard label < classes else {
                    throw DataError("\(path): record \(r) has label \(label), outside \(name)'s 0…\(classes - 1); "
                        + "the file is damaged or of another dataset: \(hint)")
                }
                labels.append(label)
                pixels.append(contentsOf: b[(r * record + labelBytes)..<((r + 1) * record)])
            }
        }
    }

    /// Non-empty lines of a names file when it has exactly `count` of them, else nil.
    static func classNames(_ path: String, count: Int) -> [String]? {
        // A names file is a few KB; anything far larger is not one and is not read into memory.
        guard let info = SizeCheck.info(path), info.regular, info.size <= 1 << 20,
              let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return names.count == count ? names : nil
    }

    /// Record bytes for images [n, 3, 32, 32] with one (CIFAR-10) or two (coarse, fine) labels each (tests).
    public static func encode(pixels: [UInt8], labels: [[UInt8]]) -> [UInt8] {
        precondition(pixels.count == labels.count * imageBytes, "\(pixels.count) pixels for \(labels.count) images")
        var out = [UInt8]()
        for (i, l) in labels.enumerated() { out += l; out += pixels[i * imageBytes..<(i + 1) * imageBytes] }
        return out
    }
}
