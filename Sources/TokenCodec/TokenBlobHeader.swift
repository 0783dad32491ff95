/// The byte width of one stored id.
public enum TokenWidth: UInt8, Sendable, Hashable, CaseIterable {
    /// Two bytes: every id is at most 65535.
    case two = 2
    /// Four bytes: any `UInt32` id.
    case four = 4

    /// Bytes per id.
    public var byteCount: Int { Int(rawValue) }

    /// The narrowest width that holds every id.
    public static func narrowest(for ids: UnsafeBufferPointer<UInt32>) -> TokenWidth {
        var bits: UInt32 = 0
        for id in ids { bits |= id }
        return bits <= 0xFFFF ? .two : .four
    }
}

/// The validated 8-byte header of a token blob.
public struct TokenBlobHeader: Sendable, Hashable {
    /// Number of token ids in the blob.
    public var count: Int
    /// Bytes per id in the block.
    public var width: TokenWidth
    /// Whether the block holds byte planes (all byte 0s, then all byte 1s, …).
    public var shuffled: Bool

    public init(count: Int, width: TokenWidth, shuffled: Bool) {
        self.count = count
        self.width = width
        self.shuffled = shuffled
    }

    /// Bytes the LZ4 block must decompress to: count × width.
    public var decodedByteCount: Int { count * width.byteCount }

    /// Parses and validates the header, the block's presence and whether it could hold
    /// count × width bytes (not its content).
    static func parse(_ blob: UnsafeRawBufferPointer) throws(TokenBlobError) -> TokenBlobHeader {
        guard blob.count >= TokenCodec.headerByteCount else {
            throw .truncatedHeader(length: blob.count)
        }
        guard blob[0] == TokenCodec.magic else { throw .badMagic(blob[0]) }
        guard blob[1] == TokenCodec.formatVersion else { throw .unsupportedVersion(blob[1]) }
        guard let width = TokenWidth(rawValue: blob[2]) else { throw .badWidth(blob[2]) }
        let flags = blob[3]
        guard flags & ~TokenCodec.shuffledFlag == 0 else { throw .unknownFlags(flags) }
        let count =
            Int(blob[4]) | Int(blob[5]) << 8 | Int(blob[6]) << 16 | Int(blob[7]) << 24
        guard count <= TokenCodec.maxTokenCount else {
            throw .countOverLimit(count: count, limit: TokenCodec.maxTokenCount)
        }
        let blockLength = blob.count - TokenCodec.headerByteCount
        if count == 0 {
            guard blockLength == 0 else { throw .unexpectedBlock(length: blockLength) }
        } else {
            guard blockLength > 0 else { throw .missingBlock }
            // Each LZ4 sequence writes less than 255 bytes per byte it occupies, so a block of
            // blockLength bytes decompresses to fewer than 255 × blockLength bytes.
            guard count * width.byteCount <= TokenCodec.maxExpansion * blockLength else {
                throw .implausibleCount(count: count, blockLength: blockLength)
            }
        }
        return TokenBlobHeader(count: count, width: width, shuffled: flags & TokenCodec.shuffledFlag != 0)
    }

    /// Writes the 8 header bytes at `destination`.
    func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: TokenCodec.magic, toByteOffset: 0, as: UInt8.self)
        destination.storeBytes(of: TokenCodec.formatVersion, toByteOffset: 1, as: UInt8.self)
        destination.storeBytes(of: width.rawValue, toByteOffset: 2, as: UInt8.self)
        destination.storeBytes(of: shuffled ? TokenCodec.shuffledFlag : 0, toByteOffset: 3, as: UInt8.self)
        destination.storeBytes(of: UInt32(count).littleEndian, toByteOffset: 4, as: UInt32.self)
    }
}
