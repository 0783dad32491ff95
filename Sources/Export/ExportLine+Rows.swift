import Buffer
import TokenCodec

extension ExportLine {
    /// What the row writer reuses from line to line: the blob decoder and the id arrays.
    struct Scratch {
        var decoder = TokenBlobDecoder()
        var promptIDs: [UInt32] = []
        var chosenIDs: [UInt32] = []
        var rejectedIDs: [UInt32] = []
    }

    /// Writes the object for row `row` of `rows` into `line`, after what it holds — the same
    /// bytes as ``append(_:format:conversational:to:)`` writes for that row's ``ExportRecord``,
    /// but straight from the page's raw columns: texts are escaped from their UTF-8 bytes, ids
    /// decoded into reused arrays and written as digits, numbers read from their binary form.
    static func append(
        _ rows: ExportRows, _ row: Int, format: ExportFormat, conversational: Bool, scratch: inout Scratch,
        to line: inout JSONLineBuilder
    ) throws {
        let prompt = try rows.prompt(row)
        try rows.requirePrompt(row)
        line.begin()
        switch format {
        case .trl, .openrlhf:
            let hasText = rows.withBytes(row, .chosenText) { $0 != nil } && rows.withBytes(row, .rejectedText) { $0 != nil }
            guard hasText else {
                throw ExportError("pair for prompt \(prompt) has a response without text; export it with --format tokens")
            }
            let hasMessages = rows.withBytes(row, .promptMessages) { $0 != nil }
            line.key("prompt")
            if hasMessages {
                rows.withBytes(row, .promptMessages) { line.raw($0 ?? UnsafeRawBufferPointer(start: nil, count: 0)) }
            } else if conversational {
                message(role: "user", rows, row, .promptText, to: &line)
            } else {
                text(rows, row, .promptText, to: &line)
            }
            line.key("chosen")
            if hasMessages || conversational {
                message(role: "assistant", rows, row, .chosenText, to: &line)
            } else {
                text(rows, row, .chosenText, to: &line)
            }
            line.key("rejected")
            if hasMessages || conversational {
                message(role: "assistant", rows, row, .rejectedText, to: &line)
            } else {
                text(rows, row, .rejectedText, to: &line)
            }
            if format == .openrlhf {
                line.key("margin")
                line.number(try rows.double(row, .gap))
            }
        case .tokens:
            let hasPrompt =
                try rows.decodeTokens(row, .promptTokens, decoder: &scratch.decoder, into: &scratch.promptIDs)
                || rows.decodeTokens(row, .responsePromptTokens, decoder: &scratch.decoder, into: &scratch.promptIDs)
            let hasChosen = try rows.decodeTokens(row, .chosenTokens, decoder: &scratch.decoder, into: &scratch.chosenIDs)
            let hasRejected = try rows.decodeTokens(row, .rejectedTokens, decoder: &scratch.decoder, into: &scratch.rejectedIDs)
            guard hasChosen, hasRejected else {
                throw ExportError(
                    "pair for prompt \(prompt) has a response without token ids (a text-only backend); use --format trl")
            }
            line.key("prompt_ids")
            if hasPrompt { line.array(scratch.promptIDs) } else { line.ascii("null") }
            line.key("chosen_ids")
            line.array(scratch.chosenIDs)
            line.key("rejected_ids")
            line.array(scratch.rejectedIDs)
        }
        line.key("weight")
        line.number(try rows.double(row, .weight))
        line.key("chosen_reward")
        line.number(try rows.double(row, .chosenReward))
        line.key("rejected_reward")
        line.number(try rows.double(row, .rejectedReward))
        line.key("gap")
        line.number(try rows.double(row, .gap))
        line.key("origin")
        text(rows, row, .origin, to: &line)
        line.key("run_id")
        line.integer(rows.run)
        line.key("t")
        line.integer(Int64(rows.t))
        line.key("prompt_id")
        line.integer(prompt)
        line.key("chosen_response_id")
        line.integer(try rows.int64(row, .chosenID))
        line.key("rejected_response_id")
        line.integer(try rows.int64(row, .rejectedID))
        line.key("policy_id")
        line.integer(try rows.int64(row, .chosenPolicy))
        line.key("source_run_id")
        line.integer(try rows.int64(row, .sourceRun))
        line.key("source_t")
        line.integer(Int64(try rows.int32(row, .sourceT)))
        line.end()
    }

    /// A text column as a JSON string (`""` for NULL, as the record writer writes a missing prompt text).
    private static func text(_ rows: ExportRows, _ row: Int, _ column: ExportRows.Column, to line: inout JSONLineBuilder) {
        rows.withBytes(row, column) { line.string(utf8: $0 ?? UnsafeRawBufferPointer(start: nil, count: 0)) }
    }

    /// `[{"role": ROLE, "content": TEXT}]` from a text column.
    private static func message(
        role: StaticString, _ rows: ExportRows, _ row: Int, _ column: ExportRows.Column, to line: inout JSONLineBuilder
    ) {
        line.ascii("[{\"role\": \"")
        line.ascii(role)
        line.ascii("\", \"content\": ")
        text(rows, row, column, to: &line)
        line.ascii("}]")
    }
}
