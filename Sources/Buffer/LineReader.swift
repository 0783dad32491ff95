import Foundation

#if canImport(Glibc)
    #if canImport(Glibc)
        import Glibc
    #elseif canImport(Darwin)
        import Darwin
    #endif
#elseif canImport(Darwin)
    import Darwin
#endif

#if canImport(Glibc)
    private func posixOpen(_ path: String, _ flags: Int32) -> Int32 { Glibc.open(path, flags) }
    private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { Glibc.read(fd, buffer, count) }
    private func posixClose(_ fd: Int32) { _ = Glibc.close(fd) }
#else
    private func posixOpen(_ path: String, _ flags: Int32) -> Int32 { Darwin.open(path, flags) }
    private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { Darwin.read(fd, buffer, count) }
    private func posixClose(_ fd: Int32) { _ = Darwin.close(fd) }
#endif

/// Why an input could not be read: names the input and the reason, in one line.
public struct LineReaderError: Error, CustomStringConvertible, Sendable, Equatable {
    public var input: String
    public var reason: String
    public var description: String { "cannot read \(input): \(reason)" }
}

/// Reads a JSONL input line by line: a file, or standard input for `-`; plain or gzip
/// (detected by its magic bytes, so `x.jsonl.gz` and `zcat`-able streams on stdin both work).
///
/// Memory stays bounded by `maxLineBytes`: a longer line is not buffered but skipped up to its
/// newline and yielded as `.tooLong`, so the caller can report it and go on. Reads use
/// `open(2)`/`read(2)` and every failure (a directory, no permission, an I/O error, a corrupt
/// gzip stream) is a thrown `LineReaderError`, never a crash.
public struct LineReader {
    /// The default longest line: 16 MiB.
    public static let defaultMaxLineBytes = 16 << 20

    /// The path given, or `-` for standard input.
    public let path: String
    public let maxLineBytes: Int
    let chunkSize: Int

    public init(path: String, maxLineBytes: Int = LineReader.defaultMaxLineBytes, chunkSize: Int = 1 << 20) {
        self.path = path
        self.maxLineBytes = max(1, maxLineBytes)
        self.chunkSize = max(1, chunkSize)
    }

    /// Whether this reads standard input.
    public var isStandardInput: Bool { path == "-" }

    /// How the input is named in messages and recorded as the prompts' source.
    public var displayName: String { isStandardInput ? "<stdin>" : path }

    /// Checks that the input can be opened for reading and is not a directory.
    public func validate() throws(LineReaderError) {
        if isStandardInput { return }
        let source = try FileSource(path: path)
        source.close()
    }

    /// The file's size in bytes (of the compressed file for gzip), for progress; nil for stdin.
    public var byteCount: Int64? {
        guard !isStandardInput else { return nil }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int64(info.st_size)
    }

    /// One line: its bytes without the newline (and a trailing `\r`), or the length of a line
    /// longer than `maxLineBytes`.
    public enum Content: Sendable {
        case bytes(ArraySlice<UInt8>)
        case tooLong(byteCount: Int)
    }

    /// A line with its 1-based number and the input bytes consumed so far (compressed bytes
    /// for gzip).
    public struct Line: Sendable {
        public var number: Int
        public var content: Content
        public var consumed: Int64
    }

    /// Opens the input; `next()` then yields its lines.
    public func open() throws(LineReaderError) -> Reader {
        let source = isStandardInput ? FileSource(standardInput: ()) : try FileSource(path: path)
        return Reader(source: source, name: displayName, maxLineBytes: maxLineBytes, chunkSize: chunkSize)
    }

    /// Reads lines from an open input; the file is closed when the reader goes away.
    public final class Reader {
        let source: FileSource
        let name: String
        let maxLineBytes: Int
        let chunkSize: Int
        var inflater: Inflater?
        var sniffed = false
        var buffer: [UInt8] = []
        var start = 0
        var lineNumber = 0
        var consumed: Int64 = 0
        var sourceFinished = false
        /// Bytes of an oversized line skipped so far, while looking for its end.
        var skipping: Int?

        init(source: FileSource, name: String, maxLineBytes: Int, chunkSize: Int) {
            self.source = source
            self.name = name
            self.maxLineBytes = maxLineBytes
            self.chunkSize = chunkSize
        }

        /// The next line, or nil at the end of the input.
        public func next() throws(LineReaderError) -> Line? {
            while true {
                let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n"))
                if let skipped = skipping {
                    if let newline {
                        skipping = nil
                        let length = skipped + (newline - start)
                        start = newline + 1
                        lineNumber += 1
                        return Line(number: lineNumber, content: .tooLong(byteCount: length), consumed: consumed)
                    }
                    skipping = skipped + (buffer.count - start)
                    buffer.removeAll(keepingCapacity: true)
                    start = 0
                    if sourceFinished, let length = skipping {
                        skipping = nil
                        lineNumber += 1
                        return Line(number: lineNumber, content: .tooLong(byteCount: length), consumed: consumed)
                    }
                } else if let newline {
                    if newline - start > maxLineBytes {
                        let length = newline - start
                        start = newline + 1
                        lineNumber += 1
                        return Line(number: lineNumber, content: .tooLong(byteCount: length), consumed: consumed)
                    }
                    var line = buffer[start..<newline]
                    if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                    start = newline + 1
                    lineNumber += 1
                    return Line(number: lineNumber, content: .bytes(line), consumed: consumed)
                } else if buffer.count - start > maxLineBytes {
                    // No newline within the limit: skip this line without keeping it.
                    skipping = buffer.count - start
                    buffer.removeAll(keepingCapacity: true)
                    start = 0
                    continue
                } else if sourceFinished {
                    guard start < buffer.count else { return nil }
                    if buffer.count - start > maxLineBytes {
                        let length = buffer.count - start
                        start = buffer.count
                        lineNumber += 1
                        return Line(number: lineNumber, content: .tooLong(byteCount: length), consumed: consumed)
                    }
                    let line = buffer[start...]
                    start = buffer.count
                    lineNumber += 1
                    return Line(number: lineNumber, content: .bytes(line), consumed: consumed)
                }
                if sourceFinished { continue }
                buffer.removeFirst(start)
                start = 0
                try fill()
            }
        }

        /// Appends the next decoded bytes to `buffer`, or marks the source finished.
        private func fill() throws(LineReaderError) {
            var raw = try source.read(chunkSize, name: name)
            consumed += Int64(raw.count)
            if !sniffed {
                // Gzip's magic bytes may arrive one read apart (a pipe): gather two.
                while raw.count < 2, !raw.isEmpty {
                    let more = try source.read(chunkSize, name: name)
                    if more.isEmpty { break }
                    consumed += Int64(more.count)
                    raw += more
                }
                sniffed = true
                if raw.count >= 2, raw[0] == 0x1F, raw[1] == 0x8B {
                    inflater = try Inflater(name: name)
                }
            }
            if inflater != nil {
                if raw.isEmpty {
                    try inflater?.finish()
                    sourceFinished = true
                } else {
                    try inflater?.inflate(raw, into: &buffer)
                }
            } else if raw.isEmpty {
                sourceFinished = true
            } else {
                buffer.append(contentsOf: raw)
            }
        }

        deinit {
            source.close()  // standard input stays open
        }
    }
}

/// A file descriptor read with read(2); errors become `LineReaderError`.
struct FileSource: Sendable {
    let descriptor: Int32
    let ownsDescriptor: Bool

    init(standardInput: Void) {
        descriptor = 0
        ownsDescriptor = false
    }

    init(path: String) throws(LineReaderError) {
        let fd = posixOpen(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LineReaderError(input: path, reason: Self.errnoText()) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = Self.errnoText()
            posixClose(fd)
            throw LineReaderError(input: path, reason: reason)
        }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            posixClose(fd)
            throw LineReaderError(input: path, reason: "it is a directory; give JSONL files (or - for standard input)")
        }
        descriptor = fd
        ownsDescriptor = true
    }

    /// Up to `count` bytes; empty at the end of the input.
    func read(_ count: Int, name: String) throws(LineReaderError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        while true {
            let got = bytes.withUnsafeMutableBytes { posixRead(descriptor, $0.baseAddress, count) }
            if got >= 0 {
                bytes.removeSubrange(got...)
                return bytes
            }
            if errno == EINTR { continue }
            throw LineReaderError(input: name, reason: Self.errnoText())
        }
    }

    func close() {
        if ownsDescriptor { posixClose(descriptor) }
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
