// TFRecord framing, the container of TensorBoard event files (docs/OUTPUTS.md):
//   uint64 length (little-endian) · uint32 masked CRC-32C of those 8 bytes · data · uint32 masked CRC-32C of data
// CRC-32C is the Castagnoli polynomial (reflected 0x82F63B78; check value of "123456789" 0xE3069283), masked as
// TensorFlow's crc32c::Mask: rotate right by 15, add 0xa282ead8.

import Foundation

public enum TFRecord {
    /// Byte-at-a-time table of the reflected Castagnoli polynomial.
    static let table: [UInt32] = (0..<256).map { (i: Int) -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    /// CRC-32C of `bytes` (initial value and final xor 0xFFFFFFFF, as iSCSI and TensorFlow use it).
    public static func crc32c<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    /// TensorFlow's masked CRC (stored CRCs are masked so a CRC of data holding CRCs stays well-behaved).
    public static func masked(_ crc: UInt32) -> UInt32 { ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8 }

    /// One record: length, its masked CRC, the data, the data's masked CRC.
    public static func frame(_ data: Data) -> Data {
        func le<T: FixedWidthInteger>(_ x: T) -> Data { withUnsafeBytes(of: x.littleEndian) { Data($0) } }
        let length = le(UInt64(data.count))
        return length + le(masked(crc32c(length))) + data + le(masked(crc32c(data)))
    }
}
