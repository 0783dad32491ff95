import Testing
import TokenCodec

@Suite("Fuzzing the decoder")
struct FuzzTests {
    /// Valid blobs of every layout and a few sizes, to mutate.
    static let seeds: [[UInt8]] = {
        var rng = SeededGenerator(seed: 2024)
        var blobs: [[UInt8]] = []
        for count in [1, 9, 64, 700] {
            for vocabulary in [Vocabulary.repetitive, .tiny, .fullRange] {
                let ids = vocabulary.ids(count: count, using: &rng)
                blobs += Layout.valid(for: ids).map { $0.encode(ids) } + [TokenCodec.encodePrefixCoded(ids)]
            }
        }
        return blobs
    }()

    @Test("random byte flips, truncations and splices never crash the decoder")
    func mutationsNeverCrash() {
        var rng = SeededGenerator(seed: 31337)
        var decoder = TokenBlobDecoder()
        var reused: [UInt32] = []
        var decoded = 0
        var rejected: Set<String> = []
        for _ in 0..<4000 {
            var blob = Self.seeds.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                Self.mutate(&blob, using: &rng)
            }
            let result = decodeResult(blob)
            // The reusable decoder and the header agree with the one-shot decoder.
            let again = Result { () throws(TokenBlobError) in
                try decoder.decode(blob, into: &reused); return reused
            }
            #expect(again == result)
            switch result {
            case .success(let ids):
                decoded += 1
                #expect((try? TokenCodec.header(of: blob).count) == ids.count)
            case .failure(let error):
                rejected.insert(error.kind)
            }
        }
        // The mutations reach the LZ4 block, not only the header checks.
        #expect(decoded > 0)
        #expect(rejected.isSuperset(of: ["corruptBlock", "badMagic", "truncatedHeader"]))
    }

    static func mutate(_ blob: inout [UInt8], using rng: inout SeededGenerator) {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0:  // flip one bit anywhere
            guard !blob.isEmpty else { return }
            blob[Int.random(in: blob.indices, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
        case 1:  // flip one bit in the block
            guard blob.count > 8 else { return }
            blob[Int.random(in: 8..<blob.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
        case 2:  // overwrite a byte with anything
            guard !blob.isEmpty else { return }
            blob[Int.random(in: blob.indices, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        case 3:  // truncate
            blob.removeLast(Int.random(in: 0...blob.count, using: &rng))
        case 4:  // append random bytes
            blob += (0..<Int.random(in: 1...16, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        default:  // graft another blob's block behind this header
            let other = seeds.randomElement(using: &rng)!
            blob = Array(blob.prefix(8)) + other.dropFirst(8)
        }
    }
}
