import Foundation

/// Token-id sequences to benchmark with: the real BPE fixture, or a synthetic Zipf sample.
public enum TokenFixture {
    /// Reads `rows × length` uint32 little-endian ids (the layout of
    /// `../shared/fixtures/tokens-bpe32k-2000x512.u32le`).
    public static func load(path: String, length: Int = 512) throws -> [[UInt32]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard data.count % (4 * length) == 0, !data.isEmpty else {
            throw CocoaError(
                .fileReadCorruptFile,
                userInfo: [
                    NSLocalizedDescriptionKey: "\(path): \(data.count) bytes is not a whole number of \(length)-id uint32 rows"
                ])
        }
        let ids = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)) }
        }
        return stride(from: 0, to: ids.count, by: length).map { Array(ids[$0..<$0 + length]) }
    }

    /// The fixture's default location, looked up from the current directory and its parents.
    public static func defaultPath() -> String? {
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("../shared/fixtures/tokens-bpe32k-2000x512.u32le").standardizedFileURL.path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }

    /// `rows` sequences of `length` ids drawn independently from a Zipf(s) law over `vocabulary`
    /// ids, with a seeded generator. The id is the frequency rank, as in a BPE vocabulary, whose
    /// earliest (most frequent) merges get the lowest ids.
    public static func zipf(rows: Int, length: Int = 512, vocabulary: Int = 152_000, exponent: Double = 1.1, seed: UInt64 = 7) -> [[UInt32]]
    {
        var generator = SplitMix64(seed: seed)
        var cumulative = [Double](repeating: 0, count: vocabulary)
        var total = 0.0
        for rank in 0..<vocabulary {
            total += 1 / pow(Double(rank + 1), exponent)
            cumulative[rank] = total
        }
        return (0..<rows).map { _ in
            (0..<length).map { _ in
                let target = Double.random(in: 0..<total, using: &generator)
                var low = 0
                var high = vocabulary - 1
                while low < high {
                    let middle = (low + high) / 2
                    if cumulative[middle] < target { low = middle + 1 } else { high = middle }
                }
                return UInt32(low)
            }
        }
    }
}

/// A small, fast, seedable generator (SplitMix64).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
