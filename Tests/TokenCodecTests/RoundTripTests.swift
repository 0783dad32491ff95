import Testing
import TokenCodec

@Suite("Round trips")
struct RoundTripTests {
    static let lengths = [0, 1, 2, 3, 7, 8, 15, 16, 17, 255, 511, 512, 513, 4096, 65_537, 100_000]

    @Test("ids across the whole UInt32 range decode to themselves", arguments: lengths)
    func fullRangeIdsRoundTrip(count: Int) throws {
        var rng = SeededGenerator(seed: UInt64(count))
        let ids = Vocabulary.fullRange.ids(count: count, using: &rng)
        #expect(try TokenCodec.decode(TokenCodec.encode(ids)) == ids)
    }

    @Test("small-vocabulary ids are stored at width 2 or as v2 and decode to themselves", arguments: lengths.filter { $0 > 0 })
    func smallVocabularyPicksWidthTwo(count: Int) throws {
        var rng = SeededGenerator(seed: 1000 + UInt64(count))
        let ids = Vocabulary.tiny.ids(count: count, using: &rng)
        let blob = TokenCodec.encode(ids)
        let header = try TokenCodec.header(of: blob)
        #expect(header.isPrefixCoded || header.width == .two)
        #expect(try TokenCodec.decode(blob) == ids)
    }

    @Test("one id above 65535 rules out width 2")
    func oneLargeIdForcesWidthFour() throws {
        let ids: [UInt32] = [1, 2, 3, 65_536, 4]
        let blob = TokenCodec.encode(ids)
        let header = try TokenCodec.header(of: blob)
        #expect(header.isPrefixCoded || header.width == .four)
        #expect(try TokenCodec.decode(blob) == ids)
    }

    @Test("every valid layout decodes to the same ids", arguments: Vocabulary.allCases, [0, 1, 5, 16, 513, 20_000])
    func everyLayoutRoundTrips(vocabulary: Vocabulary, count: Int) throws {
        var rng = SeededGenerator(seed: 7 &* UInt64(count) &+ UInt64(vocabulary.rawValue.count))
        let ids = vocabulary.ids(count: count, using: &rng)
        for layout in Layout.valid(for: ids) {
            let blob = layout.encode(ids)
            let expected = TokenBlobHeader(count: count, width: layout.width, shuffled: layout.shuffled)
            #expect(try TokenCodec.header(of: blob) == expected)
            #expect(try TokenCodec.decode(blob) == ids, "\(layout.testDescription)")
        }
    }

    @Test("v2 blobs decode to the same ids", arguments: Vocabulary.allCases, [0, 1, 2, 5, 16, 513, 20_000])
    func prefixCodeRoundTrips(vocabulary: Vocabulary, count: Int) throws {
        var rng = SeededGenerator(seed: 11 &* UInt64(count) &+ UInt64(vocabulary.rawValue.count))
        let ids = vocabulary.ids(count: count, using: &rng)
        let blob = TokenCodec.encodePrefixCoded(ids)
        #expect(try TokenCodec.header(of: blob) == .prefixCoded(count: count))
        #expect(Array(blob.prefix(4)) == [0x54, 2, 1, 0])
        #expect(try TokenCodec.decode(blob) == ids)
    }

    @Test("ids at every v2 code-length boundary round trip", arguments: [1, 2, 3, 7, 64])
    func prefixCodeBoundariesRoundTrip(repeats: Int) throws {
        let edges: [UInt32] = [0, 127, 128, 129, 255, 256, 32_639, 32_640, 32_641, 65_535, 65_536, .max - 1, .max]
        let ids = (0..<repeats).flatMap { r in edges.map { $0 ^ UInt32(r & 1) } }
        #expect(try TokenCodec.decode(TokenCodec.encodePrefixCoded(ids)) == ids)
    }

    @Test("random mixes of 1-, 2- and 5-byte codes, 0xFF low bytes among them, round trip as v2")
    func prefixCodeMixesRoundTrip() throws {
        var rng = SeededGenerator(seed: 77)
        var decoder = TokenBlobDecoder()
        var decoded: [UInt32] = []
        // 383 and 32_639 have the low byte 0xFF in their two-byte code: the chunked reader takes
        // the one-code path whenever a 0xFF byte is in its 8-byte window.
        let pool: [ClosedRange<UInt32>] = [0...127, 128...32_639, 383...383, 32_639...32_639, 32_640...UInt32.max]
        for _ in 0..<300 {
            let count = Int.random(in: 0...300, using: &rng)
            let weights = (0..<pool.count).map { _ in Int.random(in: 0...4, using: &rng) }
            let ranges = pool.indices.flatMap { Array(repeating: pool[$0], count: weights[$0]) }
            guard !ranges.isEmpty else { continue }
            let ids = (0..<count).map { _ in UInt32.random(in: ranges.randomElement(using: &rng)!, using: &rng) }
            try decoder.decode(TokenCodec.encodePrefixCoded(ids), into: &decoded)
            #expect(decoded == ids)
        }
    }

    @Test("random lengths up to 100k with mixed vocabularies round trip")
    func randomLengthsRoundTrip() throws {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<40 {
            let count = Int.random(in: 0...100_000, using: &rng) >> Int.random(in: 0...12, using: &rng)
            let vocabulary = Vocabulary.allCases.randomElement(using: &rng)!
            let ids = vocabulary.ids(count: count, using: &rng)
            #expect(try TokenCodec.decode(TokenCodec.encode(ids)) == ids, "\(count) \(vocabulary) ids")
        }
    }

    @Test("a reused decoder and encoder handle blobs of changing sizes and layouts")
    func reusedCodersStayCorrect() throws {
        var rng = SeededGenerator(seed: 99)
        var encoder = TokenBlobEncoder()
        var decoder = TokenBlobDecoder()
        var ids: [UInt32] = []
        for round in 0..<200 {
            let count = [0, 1, 50, 512, 3000, 17].randomElement(using: &rng)! + round % 3
            let expected = Vocabulary.allCases.randomElement(using: &rng)!.ids(count: count, using: &rng)
            let layout = Layout.valid(for: expected).randomElement(using: &rng)!
            let blob =
                switch round % 3 {
                case 0: encoder.encode(expected)
                case 1: encoder.encode(expected, width: layout.width, shuffle: layout.shuffled)
                default: encoder.encodePrefixCoded(expected)
                }
            try decoder.decode(blob, into: &ids)
            #expect(ids == expected)
        }
    }

    @Test("decoding into a caller's buffer writes exactly count ids and nothing past them")
    func decodeIntoBufferStopsAtCount() throws {
        var rng = SeededGenerator(seed: 5)
        let ids = Vocabulary.small.ids(count: 300, using: &rng)
        var decoder = TokenBlobDecoder()
        for blob in Layout.all.map({ $0.encode(ids) }) + [TokenCodec.encodePrefixCoded(ids)] {
            var buffer = [UInt32](repeating: 0xDEAD_BEEF, count: 310)
            let written = try buffer.withUnsafeMutableBufferPointer { out in
                try blob.withUnsafeBytes { raw in try decoder.decode(raw, into: out) }
            }
            #expect(written == 300)
            #expect(Array(buffer[..<300]) == ids)
            #expect(buffer[300...].allSatisfy { $0 == 0xDEAD_BEEF })
        }
    }

    @Test("a failed decode into an array leaves it empty")
    func failedDecodeEmptiesArray() {
        var decoder = TokenBlobDecoder()
        var ids: [UInt32] = [1, 2, 3]
        let blob = TokenCodec.encode([4, 5, 6, 7]).withCount(5)
        #expect(throws: TokenBlobError.self) { try decoder.decode(blob, into: &ids) }
        #expect(ids.isEmpty)
    }

    @Test("the header reports count, width and shuffle")
    func headerReportsLayout() throws {
        let ids: [UInt32] = Array(0..<100)
        let blob = TokenCodec.encode(ids, width: .four, shuffle: true)
        #expect(try TokenCodec.header(of: blob) == TokenBlobHeader(count: 100, width: .four, shuffled: true))
        #expect(try TokenCodec.header(of: blob).decodedByteCount == 400)
        #expect(Array(blob.prefix(8)) == [0x54, 1, 4, 1, 100, 0, 0, 0])
    }

    @Test("an empty list encodes to the bare 8-byte header")
    func emptyEncodesToHeader() throws {
        let blob = TokenCodec.encode([])
        #expect(blob == [0x54, 1, 2, 0, 0, 0, 0, 0])
        #expect(try TokenCodec.decode(blob) == [])
    }
}
