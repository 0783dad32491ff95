import Backends
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// D_t's pairs as a trainer first read them from the buffer, kept in an unlinked scratch file so
/// that the shuffled epochs read them back from local disk (in practice the page cache) instead
/// of from the database: the buffer serves D_t once per training, not once per epoch. Memory
/// holds one offset per pair, never the token ids.
///
/// Pairs are appended in position order during the first pass (``append(_:from:)``), and served
/// by position once the pass is complete (``finish(count:)``). Until then, or if the file cannot
/// be made or written (no space, no temporary folder), ``pairs(at:)`` returns nil and the caller
/// reads from the buffer as before: a spill is an optimization, never a new way to fail.
final class PairSpill: Sendable {
    private struct State {
        /// The open, already unlinked file; nil if there is none (never made, or abandoned).
        var file: Int32?
        /// Where each appended pair starts, then where the last one ends (count + 1 entries).
        var offsets: [Int64] = [0]
        var complete = false
    }

    private let state: Mutex<State>

    /// Makes an unlinked scratch file in `directory` (the process's temporary folder by default;
    /// TMPDIR sets it). With no file, every ``pairs(at:)`` returns nil.
    init(directory: String = NSTemporaryDirectory()) {
        var template = Array((directory.hasSuffix("/") ? directory : directory + "/").utf8CString.dropLast())
        template += Array("optune-pairs-XXXXXX".utf8CString)
        let file = template.withUnsafeMutableBufferPointer { buffer -> Int32? in
            guard let base = buffer.baseAddress else { return nil }
            let fd = mkstemp(base)
            guard fd >= 0 else { return nil }
            unlink(base)
            return fd
        }
        state = Mutex(State(file: file))
    }

    deinit {
        state.withLock { state in
            if let file = state.file { close(file) }
        }
    }

    /// Whether every pair of the first pass is in the file, so ``pairs(at:)`` serves them.
    var isComplete: Bool { state.withLock { $0.complete } }

    /// Appends `pairs`, the pairs at positions `position`, `position + 1`, … of the first pass.
    /// Pairs that are not the next positions the file expects (a second pass) are ignored; a
    /// failed write abandons the spill.
    func append(_ pairs: [TrainingPair], from position: Int) {
        state.withLock { state in
            guard let file = state.file, !state.complete, position == state.offsets.count - 1 else { return }
            let start = state.offsets[state.offsets.count - 1]
            var bytes: [UInt8] = []
            var ends: [Int64] = []
            ends.reserveCapacity(pairs.count)
            for pair in pairs {
                Self.encode(pair, into: &bytes)
                ends.append(start + Int64(bytes.count))
            }
            guard Self.write(bytes, to: file, at: start) else {
                Self.abandon(&state)
                return
            }
            state.offsets += ends
        }
    }

    /// Ends the first pass: the spill serves pairs if it holds exactly `count` of them.
    func finish(count: Int) {
        state.withLock { state in
            guard state.file != nil else { return }
            if state.offsets.count - 1 == count { state.complete = true } else { Self.abandon(&state) }
        }
    }

    /// The pairs at `positions`, in that order, or nil when the spill is not complete (the caller
    /// reads the buffer instead). Throws for a position outside the spill or a record that does
    /// not read back.
    func pairs(at positions: [Int]) throws -> [TrainingPair]? {
        try state.withLock { state -> [TrainingPair]? in
            guard let file = state.file, state.complete else { return nil }
            let count = state.offsets.count - 1
            var record: [UInt8] = []
            return try positions.map { position in
                guard position >= 0 && position < count else { throw SpillError(position: position, reason: "it holds pairs 0..<\(count)") }
                let start = state.offsets[position]
                let length = Int(state.offsets[position + 1] - start)
                record = [UInt8](repeating: 0, count: length)
                let read = record.withUnsafeMutableBytes { pread(file, $0.baseAddress, length, off_t(start)) }
                guard read == length else { throw SpillError(position: position, reason: "read \(read) of \(length) bytes") }
                return try Self.decode(record, position: position)
            }
        }
    }

    /// A pair that did not read back from the scratch file.
    struct SpillError: Error, CustomStringConvertible {
        var position: Int
        var reason: String
        var description: String { "the trainer's scratch copy of D_t cannot read pair \(position) back: \(reason)" }
    }

    private static func abandon(_ state: inout State) {
        if let file = state.file { close(file) }
        state.file = nil
        state.complete = false
    }

    private static func write(_ bytes: [UInt8], to file: Int32, at offset: Int64) -> Bool {
        var done = 0
        return bytes.withUnsafeBytes { raw in
            while done < raw.count {
                let wrote = pwrite(file, raw.baseAddress.map { $0 + done }, raw.count - done, off_t(offset + Int64(done)))
                if wrote < 0 && errno == EINTR { continue }
                guard wrote > 0 else { return false }
                done += wrote
            }
            return true
        }
    }

    // A record: prompt id, weight (bit pattern), text and messages (length or −1 for none, then
    // UTF-8), chosen and rejected (count, then ids), all little-endian.

    private static func encode(_ pair: TrainingPair, into bytes: inout [UInt8]) {
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { bytes += $0 } }
        func put(_ text: String?) {
            guard let text else { return put(Int64(-1)) }
            let utf8 = Array(text.utf8)
            put(Int64(utf8.count))
            bytes += utf8
        }
        func put(_ ids: [UInt32]) {
            put(Int64(ids.count))
            for id in ids { put(id) }
        }
        put(pair.prompt.id)
        put(pair.weight.bitPattern)
        put(pair.prompt.text)
        put(pair.prompt.messagesJSON)
        put(pair.chosen)
        put(pair.rejected)
    }

    private static func decode(_ record: [UInt8], position: Int) throws -> TrainingPair {
        var at = 0
        func take<T: FixedWidthInteger>(_: T.Type) throws -> T {
            let size = MemoryLayout<T>.size
            guard record.count - at >= size else { throw SpillError(position: position, reason: "record ends early") }
            var value: T = 0
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: record[at..<(at + size)]) }
            at += size
            return T(littleEndian: value)
        }
        func length() throws -> Int? {
            let value = try take(Int64.self)
            if value == -1 { return nil }
            guard value >= 0 && value <= Int64(record.count - at) else {
                throw SpillError(position: position, reason: "length \(value) past the record's end")
            }
            return Int(value)
        }
        func text() throws -> String? {
            guard let count = try length() else { return nil }
            defer { at += count }
            return String(decoding: record[at..<(at + count)], as: UTF8.self)
        }
        func ids() throws -> [UInt32] {
            guard let count = try length() else { throw SpillError(position: position, reason: "token ids without a count") }
            return try (0..<count).map { _ in try take(UInt32.self) }
        }
        let id = try take(Int64.self)
        let weight = Double(bitPattern: try take(UInt64.self))
        let prompt = PromptContent(id: id, text: try text(), messagesJSON: try text())
        let chosen = try ids()
        let rejected = try ids()
        guard at == record.count else { throw SpillError(position: position, reason: "\(record.count - at) bytes left over") }
        return TrainingPair(prompt: prompt, chosen: chosen, rejected: rejected, weight: weight)
    }
}
