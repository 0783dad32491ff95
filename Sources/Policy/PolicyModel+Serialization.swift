extension PolicyModel {
    /// Format version written by ``serialized()``.
    public static let formatVersion: UInt8 = 1
    /// Bytes before the weights.
    public static let headerByteCount = 36
    static let magic: [UInt8] = Array("OPTP".utf8)
    static let maxLayerWidth = 1 << 16

    /// The model as bytes: a 36-byte header, then every parameter as a little-endian IEEE-754
    /// `Float` in ``PolicyLayout`` order. The caller compresses and stores it.
    ///
    ///     0 "OPTP" · 4 version (1) · 5–7 zero · 8 input width · 12 embedding width
    ///     16 first hidden · 20 second hidden · 24 outputs · 28 max positions
    ///     32 parameter count                                       (all UInt32 little-endian)
    public func serialized() -> [UInt8] {
        var bytes = Self.magic + [Self.formatVersion, 0, 0, 0]
        bytes.reserveCapacity(Self.headerByteCount + 4 * parameters.count)
        for field in [
            layout.inputWidth, layout.embeddingWidth, layout.firstHidden, layout.secondHidden, layout.outputs,
            config.maxPositions, layout.count,
        ] {
            appendLittleEndian(UInt32(field), to: &bytes)
        }
        for value in parameters { appendLittleEndian(value.bitPattern, to: &bytes) }
        return bytes
    }

    /// Reads what ``serialized()`` wrote, bit for bit.
    public init(serialized bytes: [UInt8]) throws(PolicyFormatError) {
        guard bytes.count >= Self.headerByteCount else { throw .truncatedHeader(length: bytes.count) }
        guard Array(bytes[0..<4]) == Self.magic else { throw .badMagic }
        guard bytes[4] == Self.formatVersion else { throw .unsupportedVersion(bytes[4]) }
        let field = { (i: Int) in Int(readLittleEndian(bytes, at: 8 + 4 * i)) }
        let (inputWidth, embedding, first, second, outputs, positions, count) =
            (field(0), field(1), field(2), field(3), field(4), field(5), field(6))
        for (name, value) in [
            ("embedding width", embedding), ("first hidden", first), ("second hidden", second), ("max positions", positions),
        ]
        where value == 0 || value > Self.maxLayerWidth {
            throw .unsupportedShape("\(name) = \(value)")
        }
        guard outputs == DigitVocabulary.size else { throw .unsupportedShape("outputs = \(outputs)") }
        let config = PolicyConfig(embeddingWidth: embedding, firstHidden: first, secondHidden: second, maxPositions: positions)
        let layout = config.layout
        guard layout.inputWidth == inputWidth else { throw .unsupportedShape("input width = \(inputWidth)") }
        guard layout.count == count else { throw .unsupportedShape("parameter count = \(count)") }
        let expected = Self.headerByteCount + 4 * count
        guard bytes.count == expected else { throw .lengthMismatch(expected: expected, got: bytes.count) }
        let parameters = (0..<count).map { Float(bitPattern: readLittleEndian(bytes, at: Self.headerByteCount + 4 * $0)) }
        self.init(config: config, parameters: parameters)
    }

    /// FNV-1a (64-bit) of ``serialized()``: a cheap identity for provenance, not a security hash.
    public var fingerprint: UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in serialized() {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01B3
        }
        return hash
    }
}

private func appendLittleEndian(_ value: UInt32, to bytes: inout [UInt8]) {
    bytes.append(UInt8(truncatingIfNeeded: value))
    bytes.append(UInt8(truncatingIfNeeded: value >> 8))
    bytes.append(UInt8(truncatingIfNeeded: value >> 16))
    bytes.append(UInt8(truncatingIfNeeded: value >> 24))
}

private func readLittleEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
        | UInt32(bytes[offset + 3]) << 24
}
