import Postgres
import TokenCodec

/// One page of D_t as an export reads it: the pair rows in prompt order, with their prompt and
/// both responses, read column by column from the raw binary values (no records, no per-cell
/// type lookups). Texts are UTF-8 bytes, blobs token-blob bytes; a column the page's
/// ``ExportContent`` left out is NULL.
public struct ExportRows: Sendable {
    /// The columns of a page, by position.
    public enum Column: Int, Sendable, CaseIterable {
        case prompt = 0
        /// `prompts.text` (text).
        case promptText
        /// `prompts.messages` as JSON text.
        case promptMessages
        /// `prompts.tokens` (blob).
        case promptTokens
        /// The chosen response's `prompt_tokens` (blob), only when the prompt has no tokens.
        case responsePromptTokens
        case chosenID, chosenPolicy, chosenText, chosenTokens, chosenReward
        case rejectedID, rejectedPolicy, rejectedText, rejectedTokens, rejectedReward
        case gap, weight, origin, sourceRun, sourceT
        /// Whether the pair's prompt row exists (boolean).
        case promptFound
    }

    /// The page as PostgreSQL returned it.
    public let result: QueryResult
    /// The run and iteration whose D_t this is.
    public let run: Int64
    public let t: Int

    /// Pairs on the page.
    public var count: Int { result.count }

    /// Calls `body` with the raw bytes of `column` in row `row` (nil for NULL).
    @inlinable
    public func withBytes<R>(_ row: Int, _ column: Column, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        try result[row].withRawBytes(column.rawValue, body)
    }

    /// A bigint column.
    public func int64(_ row: Int, _ column: Column) throws -> Int64 {
        try withBytes(row, column) { bytes in
            guard let bytes, bytes.count == 8 else { throw malformed(row, column, bytes, expected: "an 8-byte bigint") }
            return Int64(bigEndian: bytes.loadUnaligned(as: Int64.self))
        }
    }

    /// An integer column.
    public func int32(_ row: Int, _ column: Column) throws -> Int32 {
        try withBytes(row, column) { bytes in
            guard let bytes, bytes.count == 4 else { throw malformed(row, column, bytes, expected: "a 4-byte integer") }
            return Int32(bigEndian: bytes.loadUnaligned(as: Int32.self))
        }
    }

    /// A double precision column.
    public func double(_ row: Int, _ column: Column) throws -> Double {
        try withBytes(row, column) { bytes in
            guard let bytes, bytes.count == 8 else { throw malformed(row, column, bytes, expected: "an 8-byte double") }
            return Double(bitPattern: UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)))
        }
    }

    /// A text column as a String (nil for NULL).
    public func string(_ row: Int, _ column: Column) -> String? {
        withBytes(row, column) { bytes in bytes.map { String(decoding: $0, as: UTF8.self) } }
    }

    /// The prompt id of row `row`.
    public func prompt(_ row: Int) throws -> Int64 { try int64(row, .prompt) }

    /// Throws unless row `row`'s prompt exists (a pair whose prompt row was deleted cannot be
    /// exported; its texts and ids would be read as missing).
    public func requirePrompt(_ row: Int) throws {
        let found = withBytes(row, .promptFound) { $0?.first.map { $0 != 0 } ?? false }
        guard found else {
            throw BufferError("pair for prompt \(try prompt(row)) in D_\(t) of run \(run) has no row in optune.prompts")
        }
    }

    /// Decodes the token blob in `column` of row `row` into `ids` (emptied for NULL); returns
    /// false for NULL. A blob that fails to decode throws ``CorruptTokenBlob`` naming the row.
    public func decodeTokens(
        _ row: Int, _ column: Column, decoder: inout TokenBlobDecoder, into ids: inout [UInt32]
    ) throws -> Bool {
        try withBytes(row, column) { blob in
            guard let blob else {
                ids.removeAll(keepingCapacity: true)
                return false
            }
            do throws(TokenBlobError) {
                try decoder.decode(blob, into: &ids)
            } catch {
                throw try corrupt(row, column, error)
            }
            return true
        }
    }

    /// The ``CorruptTokenBlob`` for a blob of `column` in row `row` that failed with `error`.
    func corrupt(_ row: Int, _ column: Column, _ error: TokenBlobError) throws -> CorruptTokenBlob {
        let prompt = try prompt(row)
        switch column {
        case .promptTokens:
            return CorruptTokenBlob(response: nil, prompt: prompt, run: run, t: t, column: .promptTokens, underlying: error)
        case .responsePromptTokens, .chosenTokens, .rejectedTokens:
            let response = try int64(row, column == .rejectedTokens ? .rejectedID : .chosenID)
            return CorruptTokenBlob(
                response: response, prompt: prompt, run: try int64(row, .sourceRun), t: Int(try int32(row, .sourceT)),
                column: column == .responsePromptTokens ? .responsePromptTokens : .responseTokens, underlying: error)
        default:
            throw BufferError("export page: column \(column) holds no token blob")
        }
    }

    private func malformed(_ row: Int, _ column: Column, _ bytes: UnsafeRawBufferPointer?, expected: String) -> BufferError {
        BufferError(
            "export page of run \(run), t \(t): column \(column) of row \(row) is \(bytes.map { "\($0.count) bytes" } ?? "NULL"), expected \(expected)"
        )
    }

    /// Row `row` as an ``ExportRecord``, its blobs decoded with `decoder`.
    func record(_ row: Int, decoder: inout TokenBlobDecoder) throws -> ExportRecord {
        try requirePrompt(row)
        func tokens(_ column: Column) throws -> [UInt32]? {
            var ids: [UInt32] = []
            return try decodeTokens(row, column, decoder: &decoder, into: &ids) ? ids : nil
        }
        let promptTokens = try tokens(.promptTokens) ?? tokens(.responsePromptTokens)
        return ExportRecord(
            run: run, t: t, prompt: try prompt(row), promptText: string(row, .promptText),
            promptMessagesJSON: string(row, .promptMessages), promptTokens: promptTokens,
            chosen: .init(
                response: try int64(row, .chosenID), policy: try int64(row, .chosenPolicy), text: string(row, .chosenText),
                tokens: try tokens(.chosenTokens), reward: try double(row, .chosenReward)),
            rejected: .init(
                response: try int64(row, .rejectedID), policy: try int64(row, .rejectedPolicy), text: string(row, .rejectedText),
                tokens: try tokens(.rejectedTokens), reward: try double(row, .rejectedReward)),
            gap: try double(row, .gap), weight: try double(row, .weight), origin: string(row, .origin) ?? "",
            sourceRun: try int64(row, .sourceRun), sourceT: Int(try int32(row, .sourceT)))
    }
}
