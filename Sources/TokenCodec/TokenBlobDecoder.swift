import CLZ4

/// Decodes token blobs, reusing its scratch memory across calls.
///
/// Decoding never reads outside the blob or writes outside the destination: the LZ4 block is
/// decompressed with `LZ4_decompress_safe` into exactly count × width bytes (v1) or into scratch
/// of 5 × count bytes (v2, whose codes must then fill exactly what was decompressed), and
/// anything else is rejected with a ``TokenBlobError``.
public struct TokenBlobDecoder: Sendable {
    /// Byte planes of a shuffled blob, or the codes of a v2 blob, before they become ids.
    private var scratch: [UInt8] = []

    public init() {}

    /// Decodes `blob` into a new array.
    public mutating func decode(_ blob: [UInt8]) throws(TokenBlobError) -> [UInt32] {
        try blob.withUnsafeBufferPointer { (bytes) throws(TokenBlobError) in try decode(UnsafeRawBufferPointer(bytes)) }
    }

    /// Decodes `blob` into a new array.
    public mutating func decode(_ blob: UnsafeRawBufferPointer) throws(TokenBlobError) -> [UInt32] {
        let header = try TokenBlobHeader.parse(blob)
        var failure: TokenBlobError?
        let ids = [UInt32](unsafeUninitializedCapacity: header.count) { buffer, initialized in
            do throws(TokenBlobError) {
                try decodeBlock(blob, header: header, into: buffer.baseAddress)
                initialized = header.count
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
        return ids
    }

    /// Replaces the contents of `ids` with the ids in `blob`, reusing its capacity.
    /// On error `ids` is left empty.
    public mutating func decode(_ blob: UnsafeRawBufferPointer, into ids: inout [UInt32]) throws(TokenBlobError) {
        let header: TokenBlobHeader
        do {
            header = try TokenBlobHeader.parse(blob)
        } catch {
            ids.removeAll(keepingCapacity: true)
            throw error
        }
        resize(&ids, to: header.count)
        do {
            try ids.withUnsafeMutableBufferPointer { (out) throws(TokenBlobError) in
                try decodeBlock(blob, header: header, into: out.baseAddress)
            }
        } catch {
            ids.removeAll(keepingCapacity: true)
            throw error
        }
    }

    /// Replaces the contents of `ids` with the ids in `blob`, reusing its capacity.
    /// On error `ids` is left empty.
    public mutating func decode(_ blob: [UInt8], into ids: inout [UInt32]) throws(TokenBlobError) {
        try blob.withUnsafeBufferPointer { (bytes) throws(TokenBlobError) in
            try decode(UnsafeRawBufferPointer(bytes), into: &ids)
        }
    }

    /// Writes the ids in `blob` to the start of `destination` and returns how many there are.
    /// `destination` must have room for the header's ``TokenBlobHeader/count`` ids (read it
    /// first with `TokenCodec.header(of:)`); on error its contents are unspecified.
    public mutating func decode(
        _ blob: UnsafeRawBufferPointer, into destination: UnsafeMutableBufferPointer<UInt32>
    ) throws(TokenBlobError) -> Int {
        let header = try TokenBlobHeader.parse(blob)
        precondition(
            destination.count >= header.count,
            "destination holds \(destination.count) ids, blob has \(header.count)")
        try decodeBlock(blob, header: header, into: destination.baseAddress)
        return header.count
    }

    /// Decompresses the block of a blob whose header has been validated into `ids`, which has
    /// room for `header.count` elements.
    private mutating func decodeBlock(
        _ blob: UnsafeRawBufferPointer, header: TokenBlobHeader, into ids: UnsafeMutablePointer<UInt32>?
    ) throws(TokenBlobError) {
        let count = header.count
        guard count > 0, let ids else { return }
        let block = UnsafeRawBufferPointer(rebasing: blob[TokenCodec.headerByteCount...])
        let byteCount = header.decodedByteCount
        if header.isPrefixCoded {
            // 16 bytes of slack past the codes' bound for the reader's 8-byte loads.
            if scratch.count < byteCount + 16 {
                scratch = [UInt8](repeating: 0, count: byteCount + 16)
            }
            try scratch.withUnsafeMutableBufferPointer { (codes) throws(TokenBlobError) in
                let codes = UnsafeMutableRawPointer(codes.baseAddress!)
                let written = try decompress(block, into: codes, capacity: byteCount)
                let read = readPrefixCodes(UnsafeRawPointer(codes), count: count, into: ids)
                guard read == written else { throw .codeStreamMismatch(count: count, byteCount: written) }
            }
            return
        }
        switch (header.width, header.shuffled) {
        case (.four, false):
            try decompress(block, into: UnsafeMutableRawPointer(ids), byteCount: byteCount)
            littleEndianToHost(ids, count: count)
        case (.two, false):
            // Decompress into the upper half of the destination, then widen forwards in place.
            let raw = UnsafeMutableRawPointer(ids)
            try decompress(block, into: raw + byteCount, byteCount: byteCount)
            widenUInt16InPlace(raw, count: count)
        case (let width, true):
            if scratch.count < byteCount {
                scratch = [UInt8](repeating: 0, count: byteCount)
            }
            try scratch.withUnsafeMutableBufferPointer { (planes) throws(TokenBlobError) in
                let planes = UnsafeMutableRawPointer(planes.baseAddress!)
                try decompress(block, into: planes, byteCount: byteCount)
                unshuffle(UnsafeRawPointer(planes), count: count, width: width, into: ids)
            }
        }
    }
}

/// Sets `ids.count` to `count`, keeping capacity; new elements are zero until overwritten.
private func resize(_ ids: inout [UInt32], to count: Int) {
    if ids.count > count {
        ids.removeSubrange(count...)
    } else if ids.count < count {
        ids.append(contentsOf: repeatElement(0, count: count - ids.count))
    }
}

/// Decompresses one LZ4 block into exactly `byteCount` bytes at `destination`.
private func decompress(
    _ block: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer, byteCount: Int
) throws(TokenBlobError) {
    let written = try decompress(block, into: destination, capacity: byteCount)
    guard written == byteCount else {
        throw .decompressedLengthMismatch(expected: byteCount, got: written)
    }
}

/// Decompresses one LZ4 block into at most `capacity` bytes at `destination`; returns how many.
private func decompress(
    _ block: UnsafeRawBufferPointer, into destination: UnsafeMutableRawPointer, capacity: Int
) throws(TokenBlobError) -> Int {
    // A block longer than Int32.max cannot be valid for a count within the limit.
    guard let source = block.baseAddress, block.count <= Int(Int32.max) else { throw .corruptBlock }
    let written = LZ4_decompress_safe(
        source.assumingMemoryBound(to: CChar.self),
        destination.assumingMemoryBound(to: CChar.self),
        Int32(block.count), Int32(capacity))
    guard written >= 0 else { throw .corruptBlock }
    return Int(written)
}
