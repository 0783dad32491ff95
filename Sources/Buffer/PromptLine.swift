import Foundation

/// One prompt read from a JSONL line, before it is stored.
public struct PromptRecord: Sendable, Hashable {
    /// A plain-text prompt, or nil for a conversational one.
    public var text: String?
    /// A conversational prompt as a JSON array of `{"role", "content"}` messages, or nil.
    public var messagesJSON: String?
    /// The `id` the file gave the prompt, if any.
    public var externalID: String?
    /// `train` or `eval`, when the line says.
    public var split: PromptSplit?
    /// The line's `metadata` object as JSON, if any.
    public var metadataJSON: String?

    public init(
        text: String? = nil, messagesJSON: String? = nil, externalID: String? = nil, split: PromptSplit? = nil,
        metadataJSON: String? = nil
    ) {
        self.text = text
        self.messagesJSON = messagesJSON
        self.externalID = externalID
        self.split = split
        self.metadataJSON = metadataJSON
    }
}

/// The half of a prompt set a prompt belongs to.
public enum PromptSplit: String, Sendable, CaseIterable, Codable {
    case train, eval
}

/// Why a JSONL line was rejected.
public struct PromptLineError: Error, CustomStringConvertible, Sendable, Equatable {
    public var file: String
    public var line: Int
    public var reason: String
    public var description: String { "\(file):\(line): \(reason)" }
}

/// Which fields of a line hold the prompt, and how string prompts are stored.
public struct PromptLineOptions: Sendable, Hashable {
    /// The field holding the prompt (a string or a list of messages). nil: `prompt`, unless
    /// only `messagesKey` was chosen.
    public var promptKey: String?
    /// The field holding a conversation. nil: `messages`, unless only `promptKey` was chosen.
    public var messagesKey: String?
    /// Store string prompts as one user message, so chat servers apply their template.
    public var asChat = false

    public init(promptKey: String? = nil, messagesKey: String? = nil, asChat: Bool = false) {
        self.promptKey = promptKey
        self.messagesKey = messagesKey
        self.asChat = asChat
    }

    /// Whether neither key was chosen: the defaults, which also read preference transcripts.
    var usesDefaults: Bool { promptKey == nil && messagesKey == nil }
    /// The prompt field to look at, if any.
    var effectivePromptKey: String? { promptKey ?? (messagesKey == nil ? "prompt" : nil) }
    /// The conversation field to look at, if any.
    var effectiveMessagesKey: String? { messagesKey ?? (promptKey == nil ? "messages" : nil) }
}

/// Parses the JSONL prompt formats optune imports.
///
/// A line is one JSON object. Where the prompt comes from, in order (with the default keys):
///
/// 1. `prompt`: a string, or a list of chat messages (TRL's conversational format). Preference
///    lines (`prompt`/`chosen`/`rejected`, as in UltraFeedback-binarized, which also carries
///    `messages`) keep only the prompt.
/// 2. `messages`: a conversation; a last assistant turn (the answer) is dropped, the rest is
///    the prompt.
/// 3. `chosen` (else `rejected`) without a prompt field: an Anthropic HH-RLHF transcript
///    (`\n\nHuman: … \n\nAssistant: …`) split into turns, or a TRL implicit-prompt
///    conversation; everything before the last assistant turn is the prompt.
///
/// `--prompt-key` / `--messages-key` choose other fields (and then only those are read).
/// Optional `id`, `split` and `metadata` are kept. Text that PostgreSQL cannot store (a NUL
/// character) and null prompts are rejected with the reason, never sent to the database.
public enum PromptLineParser {
    /// Parses one line; `file` and `line` only label errors.
    public static func parse(
        _ bytes: some Collection<UInt8>, file: String, line: Int, options: PromptLineOptions = PromptLineOptions()
    ) throws(PromptLineError) -> PromptRecord {
        func fail(_ reason: String) -> PromptLineError { PromptLineError(file: file, line: line, reason: reason) }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            throw fail("not valid JSON (\(Self.shortReason(error)))")
        }
        guard let fields = object as? [String: Any] else {
            throw fail("expected a JSON object, found \(Self.kind(of: object))")
        }
        var record = PromptRecord()
        try readPrompt(fields, options: options, into: &record, fail: fail)
        if options.asChat, let text = record.text {
            record.messagesJSON = try canonicalJSON([["role": "user", "content": text]])
            record.text = nil
        }
        if let id = fields["id"], !(id is NSNull) {
            if let string = id as? String {
                guard !string.contains("\u{0}") else {
                    throw fail("field \"id\" contains a NUL character (\\u0000), which PostgreSQL cannot store")
                }
                record.externalID = string
            } else if let number = id as? NSNumber {
                record.externalID = number.stringValue
            } else {
                throw fail("field \"id\" must be a string or a number, found \(Self.kind(of: id))")
            }
        }
        if let split = fields["split"], !(split is NSNull) {
            guard let name = split as? String, let value = PromptSplit(rawValue: name) else {
                throw fail("field \"split\" must be \"train\" or \"eval\", found \(Self.describe(split))")
            }
            record.split = value
        }
        if let metadata = fields["metadata"], !(metadata is NSNull) {
            guard metadata is [String: Any] else {
                throw fail("field \"metadata\" must be a JSON object, found \(Self.kind(of: metadata))")
            }
            guard !containsNUL(metadata) else {
                throw fail("field \"metadata\" contains a NUL character (\\u0000), which PostgreSQL cannot store")
            }
            record.metadataJSON = try canonicalJSON(metadata)
        }
        return record
    }

    /// Sets `record.text` or `record.messagesJSON` from the line's prompt fields.
    private static func readPrompt(
        _ fields: [String: Any], options: PromptLineOptions, into record: inout PromptRecord, fail: (String) -> PromptLineError
    ) throws(PromptLineError) {
        let promptKey = options.effectivePromptKey
        let messagesKey = options.effectiveMessagesKey
        var nullField: String?
        if let key = promptKey, let prompt = fields[key] {
            if prompt is NSNull {
                nullField = key
            } else if let text = prompt as? String {
                guard !text.isEmpty else { throw fail("field \"\(key)\" is an empty string") }
                guard !text.contains("\u{0}") else {
                    throw fail("field \"\(key)\" contains a NUL character (\\u0000), which PostgreSQL cannot store")
                }
                record.text = text
                return
            } else if let list = prompt as? [Any] {
                record.messagesJSON = try validatedMessages(list, field: key, fail: fail)
                return
            } else {
                throw fail("field \"\(key)\" must be a string or a list of messages, found \(Self.kind(of: prompt))")
            }
        }
        if let key = messagesKey, let messages = fields[key] {
            if messages is NSNull {
                nullField = nullField ?? key
            } else {
                guard let list = messages as? [Any] else {
                    throw fail("field \"\(key)\" must be a list of messages, found \(Self.kind(of: messages))")
                }
                record.messagesJSON = try validatedMessages(droppingLastAssistantTurn(list), field: key, fail: fail)
                return
            }
        }
        if let nullField { throw fail("field \"\(nullField)\" is null") }
        if options.usesDefaults {
            for key in ["chosen", "rejected"] {
                guard let value = fields[key], !(value is NSNull) else { continue }
                if let transcript = value as? String {
                    guard let turns = hhTurns(transcript) else {
                        throw fail(
                            "no \"prompt\" field, and \"\(key)\" is not a \\n\\nHuman: / \\n\\nAssistant: transcript (HH-RLHF); give the prompt field with --prompt-key"
                        )
                    }
                    record.messagesJSON = try validatedMessages(droppingLastAssistantTurn(turns), field: key, fail: fail)
                    return
                }
                if let list = value as? [Any] {
                    record.messagesJSON = try validatedMessages(droppingLastAssistantTurn(list), field: key, fail: fail)
                    return
                }
                throw fail("field \"\(key)\" must be a transcript string or a list of messages, found \(Self.kind(of: value))")
            }
        }
        let wanted = [promptKey.map { "\"\($0)\" (a string or a list of messages)" }, messagesKey.map { "\"\($0)\" (a list of messages)" }]
            .compactMap { $0 }.joined(separator: " or ")
        throw fail("missing field \(wanted)" + (options.usesDefaults ? ", and no HH-RLHF \"chosen\" transcript" : ""))
    }

    /// The conversation without its last message when that is the assistant's answer.
    static func droppingLastAssistantTurn(_ list: [Any]) -> [Any] {
        guard let last = list.last as? [String: Any], last["role"] as? String == "assistant" else { return list }
        return Array(list.dropLast())
    }

    /// An Anthropic HH-RLHF transcript (`\n\nHuman: …\n\nAssistant: …`, repeated) as chat
    /// messages, or nil when the text is not one.
    static func hhTurns(_ transcript: String) -> [Any]? {
        let markers: [(marker: String, role: String)] = [("\n\nHuman:", "user"), ("\n\nAssistant:", "assistant")]
        var text = Substring(transcript)
        // Some copies drop the leading blank line.
        if text.hasPrefix("Human:") { text = "\n\n" + text }
        var turns: [[String: String]] = []
        var current: (role: String, start: Substring.Index)?
        var index = text.startIndex
        var sawMarker = false
        while index < text.endIndex {
            var matched: (String, Substring.Index)?
            for (marker, role) in markers where text[index...].hasPrefix(marker) {
                matched = (role, text.index(index, offsetBy: marker.count))
            }
            if let (role, after) = matched {
                if let current {
                    turns.append(["role": current.role, "content": trimmed(text[current.start..<index])])
                } else if !text[text.startIndex..<index].allSatisfy(\.isWhitespace) {
                    return nil  // text before the first turn
                }
                current = (role, after)
                sawMarker = true
                index = after
            } else {
                index = text.index(after: index)
            }
        }
        guard sawMarker, let current else { return nil }
        turns.append(["role": current.role, "content": trimmed(text[current.start...])])
        return turns
    }

    private static func trimmed(_ text: Substring) -> String {
        String(text.drop(while: { $0 == " " })).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func validatedMessages(_ list: [Any], field: String, fail: (String) -> PromptLineError) throws(PromptLineError) -> String
    {
        guard !list.isEmpty else { throw fail("field \"\(field)\" is an empty list of messages (or holds only the assistant's answer)") }
        for (index, element) in list.enumerated() {
            guard let message = element as? [String: Any] else {
                throw fail("field \"\(field)\"[\(index)] must be an object with \"role\" and \"content\", found \(kind(of: element))")
            }
            guard let role = message["role"] as? String, !role.isEmpty else {
                throw fail("field \"\(field)\"[\(index)] has no string \"role\"")
            }
            guard let content = message["content"] as? String else {
                throw fail("field \"\(field)\"[\(index)] (role \(role)) has no string \"content\"")
            }
            guard !content.contains("\u{0}") && !role.contains("\u{0}") else {
                throw fail("field \"\(field)\"[\(index)] contains a NUL character (\\u0000), which PostgreSQL cannot store")
            }
        }
        guard !containsNUL(list) else {
            throw fail("field \"\(field)\" contains a NUL character (\\u0000), which PostgreSQL cannot store")
        }
        return try canonicalJSON(list)
    }

    private static func canonicalJSON(_ value: Any) throws(PromptLineError) -> String {
        do {
            let data = try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw PromptLineError(file: "", line: 0, reason: "cannot re-encode JSON: \(error)")
        }
    }

    /// Whether any string (or key) in a JSON value holds U+0000, which PostgreSQL's text and
    /// jsonb cannot store.
    static func containsNUL(_ value: Any) -> Bool {
        switch value {
        case let string as String: return string.contains("\u{0}")
        case let list as [Any]: return list.contains(where: containsNUL)
        case let object as [String: Any]: return object.contains { containsNUL($0.key) || containsNUL($0.value) }
        default: return false
        }
    }

    private static func kind(of value: Any) -> String {
        switch value {
        case is NSNull: "null"
        case is String: "a string"
        case is NSNumber: "a number or boolean"
        case is [Any]: "a list"
        case is [String: Any]: "an object"
        default: "an unsupported value"
        }
    }

    private static func describe(_ value: Any) -> String {
        if let string = value as? String { return "\"\(string)\"" }
        return kind(of: value)
    }

    private static func shortReason(_ error: Error) -> String {
        let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
        return text.count > 120 ? String(text.prefix(120)) + "…" : text
    }
}
