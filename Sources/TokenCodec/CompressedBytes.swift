import CLZ4

/// LZ4-compressed opaque bytes (policy weights): magic `W`, version 1, two zero bytes, the
/// uncompressed length as uint32 little-endian, then one raw LZ4 block.
public enum CompressedBytes {
    /// Compresses `bytes` (at most 2 GiB).
    public static func compress(_ bytes: [UInt8]) -> [UInt8] {
        let bound = Int(LZ4_compressBound(Int32(bytes.count)))
        var output = [UInt8](repeating: 0, count: 8 + bound)
        output[0] = 0x57
        output[1] = 1
        withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { for i in 0..<4 { output[4 + i] = $0[i] } }
        let written = bytes.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                LZ4_compress_default(
                    source.baseAddress?.assumingMemoryBound(to: CChar.self),
                    destination.baseAddress!.advanced(by: 8).assumingMemoryBound(to: CChar.self), Int32(bytes.count), Int32(bound))
            }
        }
        output.removeLast(bound - Int(written))
        return output
    }

    /// Decompresses a blob written by ``compress(_:)``; nil if it is not one or is corrupt.
    public static func decompress(_ blob: [UInt8]) -> [UInt8]? {
        guard blob.count >= 8, blob[0] == 0x57, blob[1] == 1 else { return nil }
        let length = Int(blob[4]) | Int(blob[5]) << 8 | Int(blob[6]) << 16 | Int(blob[7]) << 24
        guard length <= 255 * (blob.count - 8) + 16 else { return nil }
        var output = [UInt8](repeating: 0, count: length)
        let read = blob.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                LZ4_decompress_safe(
                    source.baseAddress!.advanced(by: 8).assumingMemoryBound(to: CChar.self),
                    destination.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(blob.count - 8), Int32(length))
            }
        }
        return Int(read) == length ? output : nil
    }
}
