import Foundation
import Testing

@testable import Export

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

@Suite("Block writer")
struct BlockWriterTests {
    /// Bytes that differ at every position, so a misplaced block shows.
    static func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
    }

    @Test(arguments: [0, 1, 4095, 4096, 4097, BlockWriter.blockBytes - 1, BlockWriter.blockBytes, 2 * BlockWriter.blockBytes + 12_345])
    func aFileGetsExactlyTheBytesWrittenInAnyChunking(total: Int) throws {
        let path = try scratchDirectory() + "/blocks.bin"
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        try #require(descriptor >= 0)
        let bytes = Self.pattern(total)
        let writer = BlockWriter(descriptor: descriptor, name: path, direct: true)
        var offset = 0
        var chunk = 1
        try bytes.withUnsafeBytes { raw in
            while offset < total {
                let end = min(total, offset + chunk)
                try writer.write(UnsafeRawBufferPointer(rebasing: raw[offset..<end]))
                offset = end
                chunk = chunk * 7 % 1_000_003 + 1  // 1, 8, 57, … up to a MiB: unaligned sizes
            }
        }
        try writer.flush()
        #expect(close(descriptor) == 0)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == bytes)
    }

    @Test func aWriteErrorNamesTheDestination() throws {
        let descriptor = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(descriptor >= 0)
        defer { close(descriptor) }
        let writer = BlockWriter(descriptor: descriptor, name: "/dev/full", direct: false)
        let bytes = Self.pattern(100)
        #expect {
            try bytes.withUnsafeBytes { try writer.write($0) }
            try writer.flush()
        } throws: { error in
            "\(error)".contains("cannot write /dev/full")
        }
    }
}
