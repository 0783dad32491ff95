import CZlib

/// Streaming gzip decompression (zlib's inflate with gzip framing), for `LineReader`.
///
/// Concatenated gzip members (what `cat a.gz b.gz` or bgzip produce) decode as one stream. A
/// corrupt stream, or one that ends before its trailer, is a `LineReaderError`.
final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let name: String
    /// Whether the current member has ended (and no next member has begun).
    private var memberEnded = false
    private var output = [UInt8](repeating: 0, count: 1 << 18)

    init(name: String) throws(LineReaderError) {
        self.name = name
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        // windowBits 15 + 16: gzip framing only.
        guard inflateInit2_(stream, 15 + 16, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            stream.deallocate()
            throw LineReaderError(input: name, reason: "zlib could not start a gzip stream")
        }
    }

    /// Decompresses `input` and appends the result to `buffer`.
    func inflate(_ input: [UInt8], into buffer: inout [UInt8]) throws(LineReaderError) {
        var input = input
        var failure: LineReaderError?
        let outputCount = output.count
        input.withUnsafeMutableBufferPointer { inBytes in
            guard let inBase = inBytes.baseAddress else { return }
            stream.pointee.next_in = inBase
            stream.pointee.avail_in = uInt(inBytes.count)
            output.withUnsafeMutableBufferPointer { outBytes in
                guard let outBase = outBytes.baseAddress else { return }
                // Until the input is used up and zlib holds no pending output (a full output
                // buffer may leave some behind even when the input is consumed).
                while true {
                    if memberEnded {
                        guard stream.pointee.avail_in > 0 else { return }
                        // Another gzip member follows the one that ended.
                        guard inflateReset(stream) == Z_OK else {
                            failure = LineReaderError(input: name, reason: "zlib could not start the next gzip member")
                            return
                        }
                        memberEnded = false
                    }
                    stream.pointee.next_out = outBase
                    stream.pointee.avail_out = uInt(outputCount)
                    let status = CZlib.inflate(stream, Z_NO_FLUSH)
                    let produced = outputCount - Int(stream.pointee.avail_out)
                    buffer.append(contentsOf: UnsafeBufferPointer(start: outBase, count: produced))
                    switch status {
                    case Z_OK:
                        break
                    case Z_STREAM_END:
                        memberEnded = true
                    case Z_BUF_ERROR:
                        // No progress possible: fine when it needs more input, corrupt otherwise.
                        if produced > 0 { break }
                        if stream.pointee.avail_in == 0 { return }
                        failure = LineReaderError(input: name, reason: "corrupt gzip data (zlib made no progress)")
                        return
                    default:
                        let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                        failure = LineReaderError(input: name, reason: "corrupt gzip data (\(message))")
                        return
                    }
                    if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
                }
            }
        }
        if let failure { throw failure }
    }

    /// Checks that the input ended at the end of a gzip member.
    func finish() throws(LineReaderError) {
        guard memberEnded else {
            throw LineReaderError(input: name, reason: "the gzip stream is truncated (it ends before its trailer)")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
    }
}
