import CZlib
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

/// Where an export goes: a file, a device or pipe, or standard output; gzip-compressed when the
/// path ends in `.gz`. Counts the bytes written and hashes them (SHA-256 of the output as stored).
///
/// A regular file (or a path that does not exist yet) is written to a temporary file in the same
/// directory and renamed into place only by ``OutputSink/Completed/commit()``, so a failed export
/// never truncates or half-writes the target; ``abandon()`` (also run on deinit) removes the
/// temporary file. Standard output (`-`) and non-regular files (`/dev/full`, a FIFO) are written
/// directly. Every `write(2)`, the final `fsync(2)`, `close(2)` and the gzip trailer are checked.
///
/// Writing to a pipe whose reader has gone raises SIGPIPE, which kills a process by default; the
/// CLI ignores SIGPIPE so that the write fails with EPIPE and is reported. Library callers that
/// export to pipes should do the same.
public final class OutputSink {
    private enum Target {
        case standardOutput
        /// A device, FIFO or socket, opened for writing.
        case special
        /// A temporary file to rename onto `final`.
        case atomic(temporary: String, final: String)
    }

    private let target: Target
    private var descriptor: Int32
    /// zlib keeps a pointer to its stream, so the stream lives at a fixed address.
    private var deflater: UnsafeMutablePointer<z_stream>?
    private var buffer: [UInt8] = []
    private var compressed: [UInt8] = []
    private var hash = SHA256()
    /// Writes the output (after compression) in aligned blocks.
    private let writer: BlockWriter
    private var closed = false
    /// Set once ``finish()`` hands the temporary file to a ``Completed``, which then owns it.
    private var handedOver = false
    /// Bytes of output so far (after compression; the last block is written by ``finish()``).
    public private(set) var bytesWritten = 0
    /// The destination as given, or `-` for standard output.
    public let path: String

    /// Opens `path` for writing: a temporary file beside it for a regular file, the file itself
    /// for a device or FIFO, standard output for `-`.
    public init(path: String) throws {
        self.path = path
        if path == "-" {
            target = .standardOutput
            descriptor = STDOUT_FILENO
        } else {
            var info = stat()
            if stat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
                guard (info.st_mode & S_IFMT) != S_IFDIR else { throw ExportError("cannot export to \(path): it is a directory") }
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { throw ExportError("cannot open \(path) for writing: \(Self.reason(errno))") }
                target = .special
                descriptor = fd
            } else {
                let existing: stat? = stat(path, &info) == 0 ? info : nil
                // Replace what a symlink points to, not the link.
                let final = existing != nil ? (Self.resolved(path) ?? path) : path
                let url = URL(fileURLWithPath: final)
                let directory = url.deletingLastPathComponent().path
                let temporary = directory + "/." + url.lastPathComponent + ".optune-tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
                let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
                guard fd >= 0 else {
                    throw ExportError("cannot create a temporary file in \(directory) for \(path): \(Self.reason(errno))")
                }
                if let existing { _ = fchmod(fd, existing.st_mode & 0o7777) }
                target = .atomic(temporary: temporary, final: final)
                descriptor = fd
            }
        }
        if case .atomic = target {
            writer = BlockWriter(descriptor: descriptor, name: path, direct: true)
        } else {
            writer = BlockWriter(descriptor: descriptor, name: path == "-" ? "to standard output" : path, direct: false)
        }
        if path.hasSuffix(".gz") {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            // windowBits 15 + 16 writes a gzip header and trailer.
            guard
                deflateInit2_(stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
                    == Z_OK
            else {
                stream.deallocate()
                abandon()
                throw ExportError("zlib could not start a gzip stream")
            }
            deflater = stream
            compressed = [UInt8](repeating: 0, count: 1 << 16)
        }
        if deflater != nil { buffer.reserveCapacity(1 << 20) }
    }

    deinit {
        abandon()
    }

    /// Appends `bytes`; flushes to the destination about every MiB.
    public func write(_ bytes: some Sequence<UInt8>) throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush(finishing: false) }
    }

    /// Appends `bytes`: hashed and staged for the next block at once, or compressed straight
    /// from `bytes` when it is a MiB or more and nothing waits in the gzip input buffer.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if deflater == nil || (buffer.isEmpty && bytes.count >= 1 << 20) {
            try flush(bytes, finishing: false)
            return
        }
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 20 { try flush(finishing: false) }
    }

    /// What ``finish()`` completed: the output is written, synced and closed; ``commit()`` puts a
    /// regular file in place.
    public struct Completed: Sendable {
        public var bytes: Int
        public var sha256: String
        let temporary: String?
        let final: String?

        /// Removes the finished temporary file without touching the target (when recording the
        /// export failed).
        public func discard() {
            if let temporary { unlink(temporary) }
        }

        /// Renames the temporary file onto the target (atomic on one file system); nothing to do
        /// for standard output or a device. Call exactly one of `commit()` and ``discard()``.
        public func commit() throws {
            guard let temporary, let final else { return }
            guard rename(temporary, final) == 0 else {
                let error = errno
                unlink(temporary)
                throw ExportError("cannot rename the finished export onto \(final): \(OutputSink.reason(error))")
            }
            // Make the rename durable; a directory that cannot be synced is not an export failure.
            let directory = open(URL(fileURLWithPath: final).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if directory >= 0 {
                _ = fsync(directory)
                close(directory)
            }
        }
    }

    /// Flushes everything, ends the gzip stream, syncs and closes a file. Any failure removes the
    /// temporary file and throws; the target is untouched until ``Completed/commit()``. On
    /// success the returned value owns the temporary file: commit or discard it.
    public func finish() throws -> Completed {
        do {
            try flush(finishing: true)
            endDeflater()
            switch target {
            case .standardOutput:
                return Completed(bytes: bytesWritten, sha256: hash.hexDigest(), temporary: nil, final: nil)
            case .special:
                try closeDescriptor()
                return Completed(bytes: bytesWritten, sha256: hash.hexDigest(), temporary: nil, final: nil)
            case .atomic(let temporary, let final):
                // Delayed allocation and network file systems report a full disk only here.
                guard fsync(descriptor) == 0 else { throw ExportError("cannot write \(path): \(Self.reason(errno))") }
                try closeDescriptor()
                handedOver = true
                return Completed(bytes: bytesWritten, sha256: hash.hexDigest(), temporary: temporary, final: final)
            }
        } catch {
            abandon()
            throw error
        }
    }

    /// Gives up: closes the destination and removes the temporary file (the target keeps its old
    /// content). Safe to call more than once.
    public func abandon() {
        endDeflater()
        if !closed {
            closed = true
            if case .standardOutput = target {} else { close(descriptor) }
        }
        if case .atomic(let temporary, _) = target, !handedOver { unlink(temporary) }
    }

    private func endDeflater() {
        if let deflater {
            deflateEnd(deflater)
            deflater.deallocate()
            self.deflater = nil
        }
    }

    private func closeDescriptor() throws {
        closed = true
        guard close(descriptor) == 0 else { throw ExportError("cannot write \(path): closing it failed: \(Self.reason(errno))") }
    }

    private func flush(finishing: Bool) throws {
        try buffer.withUnsafeBytes { try flush($0, finishing: finishing) }
        buffer.removeAll(keepingCapacity: true)
        if finishing { try writer.flush() }
    }

    /// Writes `input` (compressed when gzipping; `finishing` ends the gzip stream).
    private func flush(_ input: UnsafeRawBufferPointer, finishing: Bool) throws {
        guard let deflater else {
            try emit(input)
            return
        }
        let capacity = compressed.count
        // zlib's next_in is not const, but deflate never writes through it.
        deflater.pointee.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
        guard let available = uInt(exactly: input.count) else {
            throw ExportError("gzip compression of \(path): \(input.count) bytes at once is more than zlib takes")
        }
        deflater.pointee.avail_in = available
        while true {
            let status = compressed.withUnsafeMutableBytes { out in
                deflater.pointee.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                deflater.pointee.avail_out = uInt(out.count)
                return deflate(deflater, finishing ? Z_FINISH : Z_NO_FLUSH)
            }
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw ExportError("gzip compression of \(path) failed (zlib status \(status))")
            }
            let produced = capacity - Int(deflater.pointee.avail_out)
            try compressed.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[..<produced])) }
            if finishing {
                if status == Z_STREAM_END { break }
                guard produced > 0 || status != Z_BUF_ERROR else {
                    throw ExportError("gzip compression of \(path) could not finish its stream")
                }
            } else if deflater.pointee.avail_out != 0 {
                break  // all input consumed
            }
        }
    }

    /// Hashes `chunk` and hands it to the block writer.
    private func emit(_ chunk: UnsafeRawBufferPointer) throws {
        guard !chunk.isEmpty else { return }
        hash.update(chunk)
        try writer.write(chunk)
        bytesWritten += chunk.count
    }

    static func reason(_ error: Int32) -> String { String(cString: strerror(error)) }

    private static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}

/// An export failed.
public struct ExportError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
