import Buffer
import Postgres

/// The line formats `optune export` writes, one JSON object per pair.
public enum ExportFormat: String, Sendable, CaseIterable {
    /// TRL's DPOTrainer: `prompt`, `chosen`, `rejected` as strings, or — when the run's prompt
    /// set holds any message prompt — as message lists on every line (TRL's conversational
    /// preference format: text prompts become one user message, chosen/rejected one assistant
    /// message each).
    case trl
    /// OpenRLHF's DPO dataset: `prompt`, `chosen`, `rejected` (train_dpo.py's default
    /// `--chosen_key`/`--rejected_key`, with `--prompt_key prompt`) and `margin` (the reward gap).
    case openrlhf
    /// Token ids for trainers that avoid re-tokenising: `prompt_ids`, `chosen_ids`, `rejected_ids`.
    case tokens
}

/// Writes one export record as a JSON line.
public enum ExportLine {
    /// The JSON object (no trailing newline) for `record` in `format`. With `conversational`
    /// (a prompt set that holds message prompts), a text prompt is written as one user message
    /// and the responses as assistant messages, so every line of the file has one schema.
    public static func encode(_ record: ExportRecord, format: ExportFormat, conversational: Bool = false) throws -> String {
        var line = JSONLineBuilder()
        try append(record, format: format, conversational: conversational, to: &line)
        return String(decoding: line.bytes, as: UTF8.self)
    }

    /// Writes the object for `record` into `line`, after what it holds.
    static func append(_ record: ExportRecord, format: ExportFormat, conversational: Bool, to line: inout JSONLineBuilder) throws {
        line.begin()
        switch format {
        case .trl, .openrlhf:
            guard let chosen = record.chosen.text, let rejected = record.rejected.text else {
                throw ExportError("pair for prompt \(record.prompt) has a response without text; export it with --format tokens")
            }
            if record.promptMessagesJSON != nil || conversational {
                line.key("prompt")
                if let messages = record.promptMessagesJSON {
                    line.raw(messages)
                } else {
                    message(role: "user", record.promptText ?? "", to: &line)
                }
                line.key("chosen")
                message(role: "assistant", chosen, to: &line)
                line.key("rejected")
                message(role: "assistant", rejected, to: &line)
            } else {
                line.key("prompt")
                line.string(record.promptText ?? "")
                line.key("chosen")
                line.string(chosen)
                line.key("rejected")
                line.string(rejected)
            }
            if format == .openrlhf {
                line.key("margin")
                line.number(record.gap)
            }
        case .tokens:
            guard let chosen = record.chosen.tokens, let rejected = record.rejected.tokens else {
                throw ExportError(
                    "pair for prompt \(record.prompt) has a response without token ids (a text-only backend); use --format trl")
            }
            line.key("prompt_ids")
            if let prompt = record.promptTokens { line.array(prompt) } else { line.ascii("null") }
            line.key("chosen_ids")
            line.array(chosen)
            line.key("rejected_ids")
            line.array(rejected)
        }
        line.key("weight")
        line.number(record.weight)
        line.key("chosen_reward")
        line.number(record.chosen.reward)
        line.key("rejected_reward")
        line.number(record.rejected.reward)
        line.key("gap")
        line.number(record.gap)
        line.key("origin")
        line.string(record.origin)
        line.key("run_id")
        line.integer(record.run)
        line.key("t")
        line.integer(Int64(record.t))
        line.key("prompt_id")
        line.integer(record.prompt)
        line.key("chosen_response_id")
        line.integer(record.chosen.response)
        line.key("rejected_response_id")
        line.integer(record.rejected.response)
        line.key("policy_id")
        line.integer(record.chosen.policy)
        line.key("source_run_id")
        line.integer(record.sourceRun)
        line.key("source_t")
        line.integer(Int64(record.sourceT))
        line.end()
    }

    /// `[{"role": ROLE, "content": TEXT}]`.
    private static func message(role: StaticString, _ text: String, to line: inout JSONLineBuilder) {
        line.ascii("[{\"role\": \"")
        line.ascii(role)
        line.ascii("\", \"content\": ")
        line.string(text)
        line.ascii("}]")
    }
}
