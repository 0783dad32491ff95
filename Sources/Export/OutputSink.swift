import CZlib
import Foundation

/// Where an export goes: a file or standard output, gzip-compressed when the path ends in `.gz`.
/// Counts the bytes written and hashes them (SHA-256 of the file as stored).
public final class OutputSink {
    private let handle: FileHandle
    private let closesHandle: Bool
    /// zlib keeps a pointer to its stream, so the stream lives at a fixed address.
    private var deflater: UnsafeMutablePointer<z_stream>?
    private var buffer: [UInt8] = []
    private var hash = SHA256()
    /// Bytes written to the destination (after compression).
    public private(set) var bytesWritten = 0
    /// The destination, or `-` for standard output.
    public let path: String

    /// Opens `path` for writing (truncating it), or standard output for `-`.
    public init(path: String) throws {
        self.path = path
        if path == "-" {
            handle = FileHandle.standardOutput
            closesHandle = false
        } else {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ExportError("cannot create \(path)")
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            closesHandle = true
        }
        if path.hasSuffix(".gz") {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // windowBits 15 + 16 writes a gzip header and trailer.
            guard deflateInit2_(stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                stream.deallocate()
                throw ExportError("zlib could not start a gzip stream")
            }
            deflater = stream
        }
        buffer.reserveCapacity(1 << 20)
    }

    deinit {
        if let deflater {
            deflateEnd(deflater)
            deflater.deallocate()
        }
    }

    /// Appends `bytes`; flushes to the destination about every MiB.
    public func write(_ bytes: some Sequence<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush(finishing: false) }
    }

    /// Flushes everything, ends the gzip stream, closes a file; returns (bytes, sha256 hex).
    public func finish() throws -> (bytes: Int, sha256: String) {
        try flush(finishing: true)
        if let deflater {
            deflateEnd(deflater)
            deflater.deallocate()
            self.deflater = nil
        }
        if closesHandle { try handle.close() }
        return (bytesWritten, hash.hexDigest())
    }

    private func flush(finishing: Bool) throws {
        guard let deflater else {
            try emit(buffer)
            buffer.removeAll(keepingCapacity: true)
            return
        }
        var output = [UInt8](repeating: 0, count: 1 << 16)
        try buffer.withUnsafeMutableBytes { input in
            deflater.pointee.next_in = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
            deflater.pointee.avail_in = uInt(input.count)
            while true {
                let (produced, status): (Int, Int32) = try output.withUnsafeMutableBytes { out in
                    deflater.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    deflater.pointee.avail_out = uInt(out.count)
                    let status = deflate(deflater, finishing ? Z_FINISH : Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                        throw ExportError("gzip compression failed (zlib status \(status))")
                    }
                    return (out.count - Int(deflater.pointee.avail_out), status)
                }
                try emit(Array(output[..<produced]))
                if finishing ? status == Z_STREAM_END : (deflater.pointee.avail_in == 0 && produced < output.count) { break }
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func emit(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        hash.update(bytes)
        bytesWritten += bytes.count
        try handle.write(contentsOf: bytes)
    }
}

/// An export failed.
public struct ExportError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
