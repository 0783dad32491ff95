import CLZ4

/// Encodes token blobs, reusing its scratch memory across calls.
public struct TokenBlobEncoder: Sendable {
    /// Byte layout being tried, then two compressed candidates (best so far and current trial).
    private var scratch: [UInt8] = []

    public init() {}

    /// Encodes `ids` with the encoding that gives the smallest blob: every valid v1 (width,
    /// shuffle) combination and the v2 prefix code are compressed and the shortest wins (ties
    /// prefer v1, then width 2, unshuffled).
    /// Requires `ids.count` ≤ ``TokenCodec/maxTokenCount``.
    public mutating func encode(_ ids: UnsafeBufferPointer<UInt32>) -> [UInt8] {
        let layouts: [Layout] =
            TokenWidth.narrowest(for: ids) == .two
            ? [Layout(.two, false), Layout(.two, true), Layout(.four, false), Layout(.four, true), .prefixCode]
            : [Layout(.four, false), Layout(.four, true), .prefixCode]
        return encode(ids, trying: layouts)
    }

    /// Encodes `ids` as a v2 (prefix-coded) blob, whatever its size.
    /// Requires `ids.count` ≤ ``TokenCodec/maxTokenCount``.
    public mutating func encodePrefixCoded(_ ids: UnsafeBufferPointer<UInt32>) -> [UInt8] {
        encode(ids, trying: [.prefixCode])
    }

    /// Encodes `ids` as a v2 (prefix-coded) blob, whatever its size.
    public mutating func encodePrefixCoded(_ ids: [UInt32]) -> [UInt8] {
        ids.withUnsafeBufferPointer { encodePrefixCoded($0) }
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

    /// One encoding to try: a v1 (width, shuffle) layout, or the v2 prefix code.
    private struct Layout {
        var width: TokenWidth
        var shuffled: Bool
        var prefixCoded = false
        init(_ width: TokenWidth, _ shuffled: Bool) {
            self.width = width
            self.shuffled = shuffled
        }
        static var prefixCode: Layout {
            var layout = Layout(.four, false)
            layout.prefixCoded = true
            return layout
        }
        /// The most bytes this layout turns `count` ids into before compression.
        func maxInputLength(count: Int) -> Int {
            prefixCoded ? count * TokenCodec.maxCodeLength : count * width.byteCount
        }
        func header(count: Int) -> TokenBlobHeader {
            prefixCoded ? .prefixCoded(count: count) : TokenBlobHeader(count: count, width: width, shuffled: shuffled)
        }
    }

    /// Compresses each layout in turn and returns the blob of the first shortest one.
    private mutating func encode(_ ids: UnsafeBufferPointer<UInt32>, trying layouts: [Layout]) -> [UInt8] {
        let count = ids.count
        precondition(
            count <= TokenCodec.maxTokenCount, "\(count) ids exceed the blob limit of \(TokenCodec.maxTokenCount)")
        guard count > 0, let source = ids.baseAddress else {
            let header = layouts[0].header(count: 0)
            return [UInt8](unsafeUninitializedCapacity: TokenCodec.headerByteCount) { buffer, initialized in
                header.write(to: UnsafeMutableRawPointer(buffer.baseAddress!))
                initialized = TokenCodec.headerByteCount
            }
        }
        let maxInput = layouts.map { $0.maxInputLength(count: count) }.max() ?? 0
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
                var inputLength = count * layout.width.byteCount
                let input: UnsafeRawPointer
                switch (layout.width, layout.shuffled) {
                case _ where layout.prefixCoded:
                    inputLength = writePrefixCodes(source, count: count, into: layoutBytes)
                    input = UnsafeRawPointer(layoutBytes)
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
            let header = bestLayout.header(count: count)
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
