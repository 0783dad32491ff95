import Buffer

/// Encodes the second half of a page on another task while the caller encodes the first, with
/// its own line buffer and blob decoder, reused from page to page.
///
/// `@unchecked Sendable` by hand-off: ``encode(_:rows:format:conversational:)`` runs as one child
/// task (`async let`) that the caller awaits before it reads ``lines`` or starts the next page,
/// so only one task ever touches the buffers.
final class PageHalfEncoder: @unchecked Sendable {
    private(set) var lines = JSONLineBuilder()
    private var scratch = ExportLine.Scratch()

    /// Writes the lines of `rows` of `page` (each ending in a newline) into ``lines``, replacing
    /// what it held; returns self for the awaiting caller.
    func encode(_ page: ExportRows, rows: Range<Int>, format: ExportFormat, conversational: Bool) throws -> PageHalfEncoder {
        lines.reset()
        for row in rows {
            try ExportLine.append(page, row, format: format, conversational: conversational, scratch: &scratch, to: &lines)
            lines.ascii("\n")
        }
        return self
    }
}
