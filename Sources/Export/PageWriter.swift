/// Hands pages of lines to an ``OutputSink`` on another task, so that hashing, compressing and
/// writing page k overlap encoding page k + 1 (and the buffer fetching page k + 2).
///
/// Two line buffers alternate: ``next()`` gives the one whose write has finished, ``submit()``
/// waits for the previous page's write, then starts writing the page just encoded. So the
/// sink is only ever used by one task at a time, and a buffer is only refilled once its write
/// is done — the hand-off the `@unchecked Sendable` below relies on. Call ``finish()`` (or
/// ``abandon()`` after a failure) before touching the sink again.
final class PageWriter {
    private let sink: OutputSink
    private var buffers = [JSONLineBuilder(), JSONLineBuilder()]
    private var current = 0
    private var pending: Task<Void, any Error>?

    init(sink: OutputSink) {
        self.sink = sink
    }

    /// The buffer to encode the next page into, emptied.
    var lines: JSONLineBuilder {
        get { buffers[current] }
        set { buffers[current] = newValue }
    }

    /// Starts writing the current buffer once the previous page is written; the next page goes
    /// into the other buffer. Throws the previous page's write error.
    func submit() async throws {
        try await waitForPending()
        let handOff = HandOff(sink: sink, lines: buffers[current])
        pending = Task { try handOff.write() }
        current = 1 - current
        buffers[current].reset()
    }

    /// Waits for the last page's write.
    func finish() async throws {
        try await waitForPending()
    }

    /// Waits for a write in flight, ignoring its error (the export already failed).
    func abandon() async {
        _ = try? await pending?.value
        pending = nil
    }

    private func waitForPending() async throws {
        guard let pending else { return }
        self.pending = nil
        try await pending.value
    }

    /// A page's bytes and the sink, sent to the writing task (see the type's hand-off rule).
    private struct HandOff: @unchecked Sendable {
        let sink: OutputSink
        let lines: JSONLineBuilder

        func write() throws {
            try lines.withBytes { try sink.write($0) }
        }
    }
}
