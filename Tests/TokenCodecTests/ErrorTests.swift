import Testing
import TokenCodec

@Suite("Rejecting invalid blobs")
struct ErrorTests {
    /// 400 compressible width-2 ids, stored unshuffled: a valid blob to break.
    static let ids: [UInt32] = (0..<400).map { UInt32(($0 * 37) % 1000) }
    static let valid = TokenCodec.encode(ids, width: .two, shuffle: false)

    @Test("a blob shorter than the header is a truncated header", arguments: 0..<8)
    func shortBlobIsTruncatedHeader(length: Int) {
        #expect(throws: TokenBlobError.truncatedHeader(length: length)) {
            try TokenCodec.decode(Array(Self.valid.prefix(length)))
        }
    }

    @Test("a wrong first byte is a bad magic", arguments: [0x00, 0x55, 0x74, 0xFF] as [UInt8])
    func wrongMagicIsRejected(magic: UInt8) {
        #expect(throws: TokenBlobError.badMagic(magic)) { try TokenCodec.decode(Self.valid.with(magic, at: 0)) }
    }

    @Test("a version other than 1 or 2 is unsupported", arguments: [0, 3, 255] as [UInt8])
    func otherVersionIsUnsupported(version: UInt8) {
        #expect(throws: TokenBlobError.unsupportedVersion(version)) {
            try TokenCodec.decode(Self.valid.with(version, at: 1))
        }
    }

    @Test("a width other than 2 or 4 is rejected", arguments: [0, 1, 3, 8, 255] as [UInt8])
    func otherWidthIsRejected(width: UInt8) {
        #expect(throws: TokenBlobError.badWidth(width)) { try TokenCodec.decode(Self.valid.with(width, at: 2)) }
    }

    @Test("flag bits other than bit 0 are rejected", arguments: [0x02, 0x03, 0x80, 0xFF] as [UInt8])
    func unknownFlagsAreRejected(flags: UInt8) {
        #expect(throws: TokenBlobError.unknownFlags(flags)) { try TokenCodec.decode(Self.valid.with(flags, at: 3)) }
    }

    @Test("a count over the limit is rejected", arguments: [UInt32(TokenCodec.maxTokenCount) + 1, .max])
    func countOverLimitIsRejected(count: UInt32) {
        #expect(throws: TokenBlobError.countOverLimit(count: Int(count), limit: TokenCodec.maxTokenCount)) {
            try TokenCodec.decode(Self.valid.withCount(count))
        }
    }

    @Test("a count at the limit passes the header check when the block is long enough")
    func countAtLimitPassesHeader() throws {
        let blob =
            [UInt8](repeating: 0, count: 8).with(0x54, at: 0).with(1, at: 1).with(2, at: 2)
            .withCount(UInt32(TokenCodec.maxTokenCount)) + [UInt8](repeating: 0, count: 600_000)
        #expect(try TokenCodec.header(of: blob).count == TokenCodec.maxTokenCount)
    }

    @Test("a count above 0 with nothing after the header is a missing block")
    func countWithoutBlockIsMissingBlock() {
        #expect(throws: TokenBlobError.missingBlock) { try TokenCodec.decode(Array(Self.valid.prefix(8))) }
    }

    @Test("a count of 0 with bytes after the header is an unexpected block")
    func zeroCountWithBlockIsRejected() {
        let length = Self.valid.count - 8
        #expect(throws: TokenBlobError.unexpectedBlock(length: length)) {
            try TokenCodec.decode(Self.valid.withCount(0))
        }
    }

    @Test("a count the block is too short to hold is rejected without decompressing")
    func implausibleCountIsRejected() {
        let blob = Array(Self.valid.prefix(9)).withCount(200)
        #expect(throws: TokenBlobError.implausibleCount(count: 200, blockLength: 1)) { try TokenCodec.decode(blob) }
        #expect(throws: TokenBlobError.implausibleCount(count: 200, blockLength: 1)) { try TokenCodec.header(of: blob) }
    }

    @Test("a block cut short is rejected", arguments: Layout.all, [1, 2, 3, 10, 100])
    func truncatedBlockIsRejected(layout: Layout, dropped: Int) {
        let blob = Array(layout.encode(Self.ids).dropLast(dropped))
        switch decodeResult(blob) {
        case .success:
            Issue.record("a block missing \(dropped) bytes decoded")
        case .failure(let error):
            #expect(["corruptBlock", "decompressedLengthMismatch"].contains(error.kind), "\(error)")
        }
    }

    @Test("a count above what the block holds is a length mismatch", arguments: Layout.all)
    func countTooHighIsLengthMismatch(layout: Layout) {
        let width = layout.width.byteCount
        #expect(throws: TokenBlobError.decompressedLengthMismatch(expected: 401 * width, got: 400 * width)) {
            try TokenCodec.decode(layout.encode(Self.ids).withCount(401))
        }
    }

    @Test("a count below what the block holds is a corrupt block", arguments: Layout.all)
    func countTooLowIsCorruptBlock(layout: Layout) {
        #expect(throws: TokenBlobError.corruptBlock) { try TokenCodec.decode(layout.encode(Self.ids).withCount(399)) }
    }

    @Test("bytes after a complete block make it corrupt", arguments: Layout.all)
    func trailingBytesAreRejected(layout: Layout) {
        #expect(throws: TokenBlobError.corruptBlock) { try TokenCodec.decode(layout.encode(Self.ids) + [0]) }
    }

    @Test("a literal run past the block's end is a corrupt block")
    func overlongLiteralRunIsCorrupt() {
        let blob = Array(TokenCodec.encode([1, 2, 3, 4]).prefix(8)) + [0xF0]
        #expect(throws: TokenBlobError.corruptBlock) { try TokenCodec.decode(blob) }
    }

    @Test("every error has its own kind and a description that names it")
    func errorsDescribeThemselves() {
        let errors: [TokenBlobError] = [
            .truncatedHeader(length: 3), .badMagic(0x55), .unsupportedVersion(2), .badWidth(3), .unknownFlags(0x82),
            .countOverLimit(count: 70_000_000, limit: 67_108_864), .missingBlock, .unexpectedBlock(length: 12),
            .implausibleCount(count: 1000, blockLength: 1), .corruptBlock,
            .decompressedLengthMismatch(expected: 802, got: 800), .unknownCode(7),
            .codeStreamMismatch(count: 5, byteCount: 4),
        ]
        #expect(Set(errors.map(\.kind)).count == errors.count)
        #expect(TokenBlobError.badMagic(0x55).description.contains("0x55"))
        #expect(TokenBlobError.unknownFlags(0x82).description.contains("0x82"))
        #expect(
            TokenBlobError.decompressedLengthMismatch(expected: 802, got: 800).description
                .contains("800 bytes, expected 802"))
        #expect(TokenBlobError.countOverLimit(count: 70_000_000, limit: 67_108_864).description.contains("70000000"))
        #expect(TokenBlobError.codeStreamMismatch(count: 5, byteCount: 4).description.contains("4 bytes of codes are not exactly 5 codes"))
    }
}

@Suite("Rejecting invalid v2 blobs")
struct PrefixCodeErrorTests {
    /// Ids with codes of every length: a valid v2 blob to break.
    static let ids: [UInt32] = (0..<400).map(Self.id)
    static let valid = TokenCodec.encodePrefixCoded(ids)

    /// One-byte, two-byte and five-byte codes in turn.
    static func id(_ i: Int) -> UInt32 {
        let n = UInt32(i)
        switch i % 3 {
        case 0: return n % 128
        case 1: return 128 + n * 71
        default: return 70_000 + n
        }
    }

    @Test("a code other than 1 is rejected", arguments: [0, 2, 4, 255] as [UInt8])
    func otherCodeIsRejected(code: UInt8) {
        #expect(throws: TokenBlobError.unknownCode(code)) { try TokenCodec.decode(Self.valid.with(code, at: 2)) }
    }

    @Test("any flag bit is rejected", arguments: [0x01, 0x02, 0x80] as [UInt8])
    func flagsAreRejected(flags: UInt8) {
        #expect(throws: TokenBlobError.unknownFlags(flags)) { try TokenCodec.decode(Self.valid.with(flags, at: 3)) }
    }

    @Test(
        "a count other than the number of codes is a code stream mismatch or a corrupt block",
        arguments: [1, 2, 133, 399, 401, 402, 2000] as [UInt32])
    func wrongCountIsRejected(count: UInt32) {
        switch decodeResult(Self.valid.withCount(count)) {
        case .success:
            Issue.record("a v2 blob with count \(count) instead of 400 decoded")
        case .failure(let error):
            #expect(["codeStreamMismatch", "corruptBlock"].contains(error.kind), "\(error)")
        }
    }

    @Test("a block cut short is rejected", arguments: [1, 2, 3, 10, 100])
    func truncatedBlockIsRejected(dropped: Int) {
        switch decodeResult(Array(Self.valid.dropLast(dropped))) {
        case .success:
            Issue.record("a v2 block missing \(dropped) bytes decoded")
        case .failure(let error):
            #expect(["corruptBlock", "codeStreamMismatch"].contains(error.kind), "\(error)")
        }
    }

    @Test("a count the block is too short to hold is rejected without decompressing")
    func implausibleCountIsRejected() {
        let blob = Array(Self.valid.prefix(9)).withCount(256)
        #expect(throws: TokenBlobError.implausibleCount(count: 256, blockLength: 1)) { try TokenCodec.header(of: blob) }
    }
}
