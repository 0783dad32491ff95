/// Why a byte string is not a valid token blob (DESIGN §5).
///
/// Decoders check, in this order: header length, magic, version, width (v1) or code (v2), flags,
/// count limit, block presence, whether the block can hold the count's ids, the LZ4 block itself,
/// then (v2) that the decompressed codes are exactly count codes.
/// `tools/token_blob.py` checks in the same order and reports the same ``kind`` names, so both
/// reject an invalid blob with the same error.
public enum TokenBlobError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Fewer than ``TokenCodec/headerByteCount`` bytes.
    case truncatedHeader(length: Int)
    /// Byte 0 is not ``TokenCodec/magic``.
    case badMagic(UInt8)
    /// Byte 1 is neither 1 nor 2.
    case unsupportedVersion(UInt8)
    /// Byte 2 of a v1 blob is neither 2 nor 4.
    case badWidth(UInt8)
    /// Byte 2 of a v2 blob is not ``TokenCodec/bytePrefixCode``.
    case unknownCode(UInt8)
    /// Byte 3 has bits set other than bit 0 (shuffled) in v1, or any bit in v2.
    case unknownFlags(UInt8)
    /// The header's token count exceeds ``TokenCodec/maxTokenCount``.
    case countOverLimit(count: Int, limit: Int)
    /// The count is above 0 but no bytes follow the header.
    case missingBlock
    /// The count is 0 but bytes follow the header.
    case unexpectedBlock(length: Int)
    /// count × width (v1) or count (v2) exceeds 255 × the block's length, more than any LZ4 block of that length can
    /// decompress to (rejected before anything is allocated).
    case implausibleCount(count: Int, blockLength: Int)
    /// The LZ4 block is malformed or would decompress to more than count × width bytes (v1) or
    /// 5 × count bytes (v2).
    case corruptBlock
    /// The LZ4 block of a v1 blob decompressed to fewer bytes than count × width.
    case decompressedLengthMismatch(expected: Int, got: Int)
    /// The decompressed codes of a v2 blob end inside a code or before `count` ids, or have bytes
    /// left over after them.
    case codeStreamMismatch(count: Int, byteCount: Int)

    /// A stable name for the error, shared with `tools/token_blob.py` and the test vectors.
    public var kind: String {
        switch self {
        case .truncatedHeader: "truncatedHeader"
        case .badMagic: "badMagic"
        case .unsupportedVersion: "unsupportedVersion"
        case .badWidth: "badWidth"
        case .unknownCode: "unknownCode"
        case .unknownFlags: "unknownFlags"
        case .countOverLimit: "countOverLimit"
        case .missingBlock: "missingBlock"
        case .unexpectedBlock: "unexpectedBlock"
        case .implausibleCount: "implausibleCount"
        case .corruptBlock: "corruptBlock"
        case .decompressedLengthMismatch: "decompressedLengthMismatch"
        case .codeStreamMismatch: "codeStreamMismatch"
        }
    }

    public var description: String {
        switch self {
        case .truncatedHeader(let length):
            "token blob is \(length) bytes, shorter than its \(TokenCodec.headerByteCount)-byte header"
        case .badMagic(let byte):
            "token blob has magic \(hex(byte)), expected \(hex(TokenCodec.magic))"
        case .unsupportedVersion(let version):
            "token blob has format version \(version), only versions 1 and 2 are supported"
        case .badWidth(let width):
            "token blob has id width \(width), expected 2 or 4"
        case .unknownCode(let code):
            "token blob (v2) has code \(code), expected \(TokenCodec.bytePrefixCode)"
        case .unknownFlags(let flags):
            "token blob has flags \(hex(flags)) with unknown bits set"
        case .countOverLimit(let count, let limit):
            "token blob claims \(count) tokens, over the limit of \(limit)"
        case .missingBlock:
            "token blob claims tokens but has no LZ4 block after the header"
        case .unexpectedBlock(let length):
            "token blob claims 0 tokens but has \(length) bytes after the header"
        case .implausibleCount(let count, let blockLength):
            "token blob claims \(count) tokens, more than its \(blockLength)-byte LZ4 block can hold"
        case .corruptBlock:
            "token blob's LZ4 block is corrupt or longer than its header claims"
        case .decompressedLengthMismatch(let expected, let got):
            "token blob's LZ4 block decompressed to \(got) bytes, expected \(expected)"
        case .codeStreamMismatch(let count, let byteCount):
            "token blob's \(byteCount) bytes of codes are not exactly \(count) codes"
        }
    }
}

private func hex(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return "0x" + (digits.count < 2 ? "0" + digits : digits)
}
