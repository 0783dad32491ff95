#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes an export's bytes to a descriptor in 4 MiB blocks from one page-aligned buffer.
///
/// For a new regular file on Linux it asks for direct I/O (`O_DIRECT`): the blocks go from the
/// buffer to the disk without a copy into the page cache, which on a large token export costs
/// more CPU than formatting the lines (a virtual machine pays for every fresh page-cache page).
/// Full blocks are aligned writes at aligned offsets; the last partial block is written with
/// direct I/O switched off. A file system that refuses direct I/O (at `fcntl` or at the first
/// write, `EINVAL`) gets ordinary buffered writes. Every write is checked; short writes, `EINTR`
/// and a non-blocking descriptor's `EAGAIN` are retried.
final class BlockWriter {
    /// Bytes per block: a multiple of every logical block size direct I/O may require.
    static let blockBytes = 4 << 20
    private static let alignment = 4096

    let descriptor: Int32
    /// How errors name the destination ("/path/file", "to standard output").
    private let name: String
    private let staging: UnsafeMutableRawPointer
    private var staged = 0
    /// Whether the descriptor currently has O_DIRECT set.
    private(set) var direct = false

    /// Writes to `descriptor`; `direct` asks for direct I/O (only for a regular file this sink created).
    init(descriptor: Int32, name: String, direct: Bool) {
        self.descriptor = descriptor
        self.name = name
        staging = .allocate(byteCount: Self.blockBytes, alignment: Self.alignment)
        if direct, let flag = Self.directFlag {
            let flags = fcntl(descriptor, F_GETFL)
            self.direct = flags >= 0 && fcntl(descriptor, F_SETFL, flags | flag) == 0
        }
    }

    deinit {
        staging.deallocate()
    }

    /// Stages `bytes`, writing every block that fills.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var source = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let take = min(remaining, Self.blockBytes - staged)
            (staging + staged).copyMemory(from: source, byteCount: take)
            staged += take
            source += take
            remaining -= take
            if staged == Self.blockBytes {
                try writeAll(UnsafeRawBufferPointer(start: staging, count: staged))
                staged = 0
            }
        }
    }

    /// Writes everything staged. The aligned part goes as is; the tail is written with direct
    /// I/O off (it cannot be aligned), so call this only once nothing more will be written.
    func flush() throws {
        guard staged > 0 else { return }
        let aligned = staged & ~(Self.alignment - 1)
        if aligned > 0 { try writeAll(UnsafeRawBufferPointer(start: staging, count: aligned)) }
        if aligned < staged {
            try stopDirect()
            try writeAll(UnsafeRawBufferPointer(start: staging + aligned, count: staged - aligned))
        }
        staged = 0
    }

    private func writeAll(_ chunk: UnsafeRawBufferPointer) throws {
        guard let base = chunk.baseAddress else { return }
        var offset = 0
        while offset < chunk.count {
            let written = systemWrite(descriptor, base + offset, chunk.count - offset)
            if written < 0 {
                let error = errno
                if error == EINTR { continue }
                if error == EINVAL, direct {
                    // The file system (or a short write that left the offset unaligned) refuses direct I/O.
                    try stopDirect()
                    continue
                }
                if error == EAGAIN || error == EWOULDBLOCK {
                    var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&poller, 1, -1)
                    continue
                }
                throw ExportError(
                    "cannot write \(name): \(OutputSink.reason(error))\(error == EPIPE ? " (the reader closed the pipe)" : "")")
            }
            offset += written
        }
    }

    private func stopDirect() throws {
        guard direct, let flag = Self.directFlag else { return }
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags & ~flag) == 0 else {
            throw ExportError("cannot write \(name): switching off direct I/O failed: \(OutputSink.reason(errno))")
        }
        direct = false
    }

    /// Linux's O_DIRECT (not exported by the Glibc module), per architecture; nil elsewhere.
    private static var directFlag: Int32? {
        #if os(Linux) && arch(x86_64)
            return 0o40000
        #elseif os(Linux) && arch(arm64)
            return 0o200000
        #else
            return nil
        #endif
    }
}

#if canImport(Glibc)
    private let systemWrite = Glibc.write
#elseif canImport(Darwin)
    private let systemWrite = Darwin.write
#endif
