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
        var fields: [(String, String)] = []
        switch format {
        case .trl, .openrlhf:
            guard let chosen = record.chosen.text, let rejected = record.rejected.text else {
                throw ExportError("pair for prompt \(record.prompt) has a response without text; export it with --format tokens")
            }
            let messages = record.promptMessagesJSON ?? (conversational ? userMessage(record.promptText ?? "") : nil)
            if let messages {
                fields.append(("prompt", messages))
                fields.append(("chosen", assistantMessage(chosen)))
                fields.append(("rejected", assistantMessage(rejected)))
            } else {
                fields.append(("prompt", JSON.string(record.promptText ?? "")))
                fields.append(("chosen", JSON.string(chosen)))
                fields.append(("rejected", JSON.string(rejected)))
            }
            if format == .openrlhf { fields.append(("margin", JSON.number(record.gap))) }
        case .tokens:
            guard let chosen = record.chosen.tokens, let rejected = record.rejected.tokens else {
                throw ExportError("pair for prompt \(record.prompt) has a response without token ids (a text-only backend); use --format trl")
            }
            fields.append(("prompt_ids", record.promptTokens.map(JSON.array) ?? "null"))
            fields.append(("chosen_ids", JSON.array(chosen)))
            fields.append(("rejected_ids", JSON.array(rejected)))
        }
        fields += [
            ("weight", JSON.number(record.weight)),
            ("chosen_reward", JSON.number(record.chosen.reward)),
            ("rejected_reward", JSON.number(record.rejected.reward)),
            ("gap", JSON.number(record.gap)),
            ("origin", JSON.string(record.origin)),
            ("run_id", String(record.run)),
            ("t", String(record.t)),
            ("prompt_id", String(record.prompt)),
            ("chosen_response_id", String(record.chosen.response)),
            ("rejected_response_id", String(record.rejected.response)),
            ("policy_id", String(record.chosen.policy)),
            ("source_run_id", String(record.sourceRun)),
            ("source_t", String(record.sourceT)),
        ]
        return "{" + fields.map { "\(JSON.string($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    private static func userMessage(_ text: String) -> String {
        "[{\"role\": \"user\", \"content\": \(JSON.string(text))}]"
    }

    private static func assistantMessage(_ text: String) -> String {
        "[{\"role\": \"assistant\", \"content\": \(JSON.string(text))}]"
    }
}

/// JSON text for the values exports write.
enum JSON {
    static func string(_ value: String) -> String { JSONB.quoted(value) }

    static func number(_ value: Double) -> String {
        value.isFinite ? "\(value)" : "null"
    }

    static func array(_ ids: [UInt32]) -> String {
        "[" + ids.map(String.init).joined(separator: ", ") + "]"
    }
}
