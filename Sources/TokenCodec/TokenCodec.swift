/// Token blobs (DESIGN §5, byte-exact in `docs/token-blob-format.md`): an 8-byte header and one
/// raw LZ4 block.
///
/// ```
/// v1: 0  magic 0x54 · 1  version 1 · 2  width 2|4 · 3  flags (bit 0 = byte-shuffled)
///     4  token count, UInt32 little-endian · 8  LZ4 block of count × width bytes (absent when count = 0)
/// v2: 0  magic 0x54 · 1  version 2 · 2  code 1 (byte prefix code) · 3  flags 0
///     4  token count, UInt32 little-endian · 8  LZ4 block of the count codes (absent when count = 0)
/// ```
///
/// A v2 code is one byte for ids below 128, two bytes (0x80 + high bits, low byte) for ids below
/// 32640, else 0xFF and the id as UInt32 little-endian. Decoders read both versions; the encoder
/// writes whichever valid encoding is smallest.
///
/// These one-shot functions allocate scratch per call; to encode or decode many blobs, keep a
/// ``TokenBlobEncoder`` or ``TokenBlobDecoder`` and reuse it.
public enum TokenCodec {
    /// Byte 0 of every blob ('T').
    public static let magic: UInt8 = 0x54
    /// The fixed-width format version (byte 1 of a v1 blob).
    public static let formatVersion: UInt8 = 1
    /// The prefix-coded format version (byte 1 of a v2 blob).
    public static let prefixCodeVersion: UInt8 = 2
    /// Byte 2 of a v2 blob: the only code defined, the byte prefix code.
    public static let bytePrefixCode: UInt8 = 1
    /// Flags bit 0: the block holds byte planes rather than little-endian ids.
    public static let shuffledFlag: UInt8 = 0x01
    /// Bytes before the LZ4 block.
    public static let headerByteCount = 8
    /// The largest token count a blob may claim (64 Mi ids, 256 MiB decoded at width 4);
    /// decoders reject larger counts before allocating anything.
    public static let maxTokenCount = 64 << 20

    /// The longest v2 code: 0xFF and a UInt32.
    static let maxCodeLength = 5

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

    /// Encodes `ids` as a v2 (prefix-coded) blob, whatever its size.
    public static func encodePrefixCoded(_ ids: [UInt32]) -> [UInt8] {
        var encoder = TokenBlobEncoder()
        return encoder.encodePrefixCoded(ids)
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
