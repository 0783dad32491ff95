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
    /// Bytes per id in the block of a v1 blob; `.four` for a v2 blob, whose block holds prefix
    /// codes rather than fixed-width ids.
    public var width: TokenWidth
    /// Whether the block of a v1 blob holds byte planes (all byte 0s, then all byte 1s, …);
    /// false for a v2 blob.
    public var shuffled: Bool
    /// The format version: ``TokenCodec/formatVersion`` (1, fixed width) or
    /// ``TokenCodec/prefixCodeVersion`` (2, byte prefix code).
    public var version: UInt8

    /// The header of a v1 (fixed-width) blob.
    public init(count: Int, width: TokenWidth, shuffled: Bool) {
        self.count = count
        self.width = width
        self.shuffled = shuffled
        self.version = TokenCodec.formatVersion
    }

    /// The header of a v2 (prefix-coded) blob of `count` ids.
    public static func prefixCoded(count: Int) -> TokenBlobHeader {
        var header = TokenBlobHeader(count: count, width: .four, shuffled: false)
        header.version = TokenCodec.prefixCodeVersion
        return header
    }

    /// Whether the block holds v2 prefix codes.
    public var isPrefixCoded: Bool { version == TokenCodec.prefixCodeVersion }

    /// Bytes the LZ4 block must decompress to: exactly count × width for v1; for v2 at least
    /// count and at most 5 × count (one to five bytes per code).
    public var decodedByteCount: Int { isPrefixCoded ? count * TokenCodec.maxCodeLength : count * width.byteCount }

    /// The fewest bytes the block can decompress to: count × width for v1, count for v2.
    var minimumDecodedByteCount: Int { isPrefixCoded ? count : count * width.byteCount }

    /// Parses and validates the header, the block's presence and whether it could hold the
    /// count's ids (not its content).
    static func parse(_ blob: UnsafeRawBufferPointer) throws(TokenBlobError) -> TokenBlobHeader {
        guard blob.count >= TokenCodec.headerByteCount else {
            throw .truncatedHeader(length: blob.count)
        }
        guard blob[0] == TokenCodec.magic else { throw .badMagic(blob[0]) }
        let version = blob[1]
        let width: TokenWidth
        let flags = blob[3]
        switch version {
        case TokenCodec.formatVersion:
            guard let fixed = TokenWidth(rawValue: blob[2]) else { throw .badWidth(blob[2]) }
            width = fixed
            guard flags & ~TokenCodec.shuffledFlag == 0 else { throw .unknownFlags(flags) }
        case TokenCodec.prefixCodeVersion:
            guard blob[2] == TokenCodec.bytePrefixCode else { throw .unknownCode(blob[2]) }
            width = .four
            guard flags == 0 else { throw .unknownFlags(flags) }
        default:
            throw .unsupportedVersion(version)
        }
        let count =
            Int(blob[4]) | Int(blob[5]) << 8 | Int(blob[6]) << 16 | Int(blob[7]) << 24
        guard count <= TokenCodec.maxTokenCount else {
            throw .countOverLimit(count: count, limit: TokenCodec.maxTokenCount)
        }
        var header = TokenBlobHeader(count: count, width: width, shuffled: flags & TokenCodec.shuffledFlag != 0)
        header.version = version
        let blockLength = blob.count - TokenCodec.headerByteCount
        if count == 0 {
            guard blockLength == 0 else { throw .unexpectedBlock(length: blockLength) }
        } else {
            guard blockLength > 0 else { throw .missingBlock }
            // Each LZ4 sequence writes less than 255 bytes per byte it occupies, so a block of
            // blockLength bytes decompresses to fewer than 255 × blockLength bytes.
            guard header.minimumDecodedByteCount <= TokenCodec.maxExpansion * blockLength else {
                throw .implausibleCount(count: count, blockLength: blockLength)
            }
        }
        return header
    }

    /// Writes the 8 header bytes at `destination`.
    func write(to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: TokenCodec.magic, toByteOffset: 0, as: UInt8.self)
        destination.storeBytes(of: version, toByteOffset: 1, as: UInt8.self)
        if isPrefixCoded {
            destination.storeBytes(of: TokenCodec.bytePrefixCode, toByteOffset: 2, as: UInt8.self)
            destination.storeBytes(of: UInt8(0), toByteOffset: 3, as: UInt8.self)
        } else {
            destination.storeBytes(of: width.rawValue, toByteOffset: 2, as: UInt8.self)
            destination.storeBytes(of: shuffled ? TokenCodec.shuffledFlag : 0, toByteOffset: 3, as: UInt8.self)
        }
        destination.storeBytes(of: UInt32(count).littleEndian, toByteOffset: 4, as: UInt32.self)
    }
}
