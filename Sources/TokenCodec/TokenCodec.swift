/// Token blob format v1 (DESIGN §5): an 8-byte header and one raw LZ4 block of the ids.
///
/// ```
/// 0  magic 0x54 · 1  version 1 · 2  width 2|4 · 3  flags (bit 0 = byte-shuffled)
/// 4  token count, UInt32 little-endian · 8  LZ4 block of count × width bytes (absent when count = 0)
/// ```
///
/// These one-shot functions allocate scratch per call; to encode or decode many blobs, keep a
/// ``TokenBlobEncoder`` or ``TokenBlobDecoder`` and reuse it.
public enum TokenCodec {
    /// Byte 0 of every blob ('T').
    public static let magic: UInt8 = 0x54
    /// The only format version this module reads and writes.
    public static let formatVersion: UInt8 = 1
    /// Flags bit 0: the block holds byte planes rather than little-endian ids.
    public static let shuffledFlag: UInt8 = 0x01
    /// Bytes before the LZ4 block.
    public static let headerByteCount = 8
    /// The largest token count a blob may claim (64 Mi ids, 256 MiB decoded at width 4);
    /// decoders reject larger counts before allocating anything.
    public static let maxTokenCount = 64 << 20

    /// The most bytes one byte of an LZ4 block can decompress to (a bound, never reached).
    static let maxExpansion = 255

    /// Encodes `ids` with the (width, shuffle) combination that gives the smallest blob.
    public static func encode(_ ids: [UInt32]) -> [UInt8] {
        var encoder = TokenBlobEncoder()
        return encoder.encode(ids)
    }

    /// Encodes `ids` with a fixed layout. Width `.two` requires every id ≤ 65535.
    public static func encode(_ ids: [UInt32], width: TokenWidth, shuffle: Bool) -> [UInt8] {
        var encoder = TokenBlobEncoder()
        return encoder.encode(ids, width: width, shuffle: shuffle)
    }

    /// Decodes a blob into its ids.
    public static func decode(_ blob: [UInt8]) throws(TokenBlobError) -> [UInt32] {
        var decoder = TokenBlobDecoder()
        return try decoder.decode(blob)
    }

    /// Decodes a blob (for example a `bytea` value still in a driver's buffer) into its ids.
    public static func decode(_ blob: UnsafeRawBufferPointer) throws(TokenBlobError) -> [UInt32] {
        var decoder = TokenBlobDecoder()
        return try decoder.decode(blob)
    }

    /// Reads and validates the header without decompressing: magic, version, width, flags, the
    /// count limit, that a block is present exactly when the count is above 0, and that it is
    /// long enough to possibly hold count × width bytes.
    public static func header(of blob: [UInt8]) throws(TokenBlobError) -> TokenBlobHeader {
        try blob.withUnsafeBufferPointer { (bytes) throws(TokenBlobError) in
            try TokenBlobHeader.parse(UnsafeRawBufferPointer(bytes))
        }
    }

    /// Reads and validates the header without decompressing (see the `[UInt8]` overload).
    public static func header(of blob: UnsafeRawBufferPointer) throws(TokenBlobError) -> TokenBlobHeader {
        try TokenBlobHeader.parse(blob)
    }
}
