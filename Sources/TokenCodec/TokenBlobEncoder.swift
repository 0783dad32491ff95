import CLZ4

/// Encodes token blobs, reusing its scratch memory across calls.
public struct TokenBlobEncoder: Sendable {
    /// Byte layout being tried, then two compressed candidates (best so far and current trial).
    private var scratch: [UInt8] = []

    public init() {}

    /// Encodes `ids` with the (width, shuffle) combination that gives the smallest blob: every
    /// valid combination is compressed and the shortest wins (ties prefer width 2, unshuffled).
    /// Requires `ids.count` ≤ ``TokenCodec/maxTokenCount``.
    public mutating func encode(_ ids: UnsafeBufferPointer<UInt32>) -> [UInt8] {
        let layouts: [Layout] =
            TokenWidth.narrowest(for: ids) == .two
            ? [Layout(.two, false), Layout(.two, true), Layout(.four, false), Layout(.four, true)]
            : [Layout(.four, false), Layout(.four, true)]
        return encode(ids, trying: layouts)
    }

    /// Encodes `ids` with a fixed layout. Width `.two` requires every id ≤ 65535.
    /// Requires `ids.count` ≤ ``TokenCodec/maxTokenCount``.
    public mutating func encode(_ ids: UnsafeBufferPointer<UInt32>, width: TokenWidth, shuffle: Bool) -> [UInt8] {
        precondition(
            width == .four || TokenWidth.narrowest(for: ids) == .two,
            "width 2 needs every id ≤ 65535")
        return encode(ids, trying: [Layout(width, shuffle)])
    }

    /// Encodes `ids` with the (width, shuffle) combination that gives the smallest blob.
    public mutating func encode(_ ids: [UInt32]) -> [UInt8] {
        ids.withUnsafeBufferPointer { encode($0) }
    }

    /// Encodes `ids` with a fixed layout. Width `.two` requires every id ≤ 65535.
    public mutating func encode(_ ids: [UInt32], width: TokenWidth, shuffle: Bool) -> [UInt8] {
        ids.withUnsafeBufferPointer { encode($0, width: width, shuffle: shuffle) }
    }

    private struct Layout {
        var width: TokenWidth
        var shuffled: Bool
        init(_ width: TokenWidth, _ shuffled: Bool) {
            self.width = width
            self.shuffled = shuffled
        }
    }

    /// Compresses each layout in turn and returns the blob of the first shortest one.
    private mutating func encode(_ ids: UnsafeBufferPointer<UInt32>, trying layouts: [Layout]) -> [UInt8] {
        let count = ids.count
        precondition(
            count <= TokenCodec.maxTokenCount, "\(count) ids exceed the blob limit of \(TokenCodec.maxTokenCount)")
        guard count > 0, let source = ids.baseAddress else {
            let header = TokenBlobHeader(count: 0, width: layouts[0].width, shuffled: layouts[0].shuffled)
            return [UInt8](unsafeUninitializedCapacity: TokenCodec.headerByteCount) { buffer, initialized in
                header.write(to: UnsafeMutableRawPointer(buffer.baseAddress!))
                initialized = TokenCodec.headerByteCount
            }
        }
        let maxInput = count * layouts.map(\.width.byteCount).max()!
        let bound = Int(LZ4_compressBound(Int32(maxInput)))
        let needed = maxInput + 2 * bound
        if scratch.count < needed {
            scratch = [UInt8](repeating: 0, count: needed)
        }
        return scratch.withUnsafeMutableBytes { scratch in
            let layoutBytes = scratch.baseAddress!
            var best = layoutBytes + maxInput
            var trial = best + bound
            var bestLength = Int.max
            var bestLayout = layouts[0]
            for layout in layouts {
                let inputLength = count * layout.width.byteCount
                let input: UnsafeRawPointer
                switch (layout.width, layout.shuffled) {
                case (.four, false):
                    #if _endian(little)
                    input = UnsafeRawPointer(source)
                    #else
                    for i in 0..<count {
                        layoutBytes.storeBytes(of: source[i].littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                    }
                    input = UnsafeRawPointer(layoutBytes)
                    #endif
                case (.two, false):
                    narrowToUInt16(source, count: count, into: layoutBytes)
                    input = UnsafeRawPointer(layoutBytes)
                case (let width, true):
                    shuffle(source, count: count, width: width, into: layoutBytes)
                    input = UnsafeRawPointer(layoutBytes)
                }
                let length = Int(
                    LZ4_compress_default(
                        input.assumingMemoryBound(to: CChar.self), trial.assumingMemoryBound(to: CChar.self),
                        Int32(inputLength), Int32(bound)))
                precondition(length > 0, "LZ4_compress_default failed for \(inputLength) bytes")
                if length < bestLength {
                    bestLength = length
                    bestLayout = layout
                    swap(&best, &trial)
                }
            }
            let header = TokenBlobHeader(count: count, width: bestLayout.width, shuffled: bestLayout.shuffled)
            let blobLength = TokenCodec.headerByteCount + bestLength
            return [UInt8](unsafeUninitializedCapacity: blobLength) { buffer, initialized in
                let blob = UnsafeMutableRawPointer(buffer.baseAddress!)
                header.write(to: blob)
                (blob + TokenCodec.headerByteCount).copyMemory(from: best, byteCount: bestLength)
                initialized = blobLength
            }
        }
    }
}
