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

/// Parses the JSONL prompt formats optune imports.
///
/// A line is one JSON object with `prompt` (a string, or a list of chat messages as in TRL's
/// conversational format) or `messages` (a chat list), and optional `id`, `split` and `metadata`.
/// Preference lines (`prompt`/`chosen`/`rejected`) are accepted; only the prompt is kept.
public enum PromptLineParser {
    /// Parses one line; `file` and `line` only label errors.
    public static func parse(_ bytes: some Collection<UInt8>, file: String, line: Int) throws(PromptLineError) -> PromptRecord {
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
        let prompt = fields["prompt"]
        let messages = fields["messages"]
        switch (prompt, messages) {
        case (nil, nil):
            throw fail("missing field \"prompt\" (a string or a list of messages) or \"messages\"")
        case (.some, .some) where !(prompt is NSNull) && !(messages is NSNull):
            throw fail("has both \"prompt\" and \"messages\"; give one")
        default:
            break
        }
        if let prompt, !(prompt is NSNull) {
            if let text = prompt as? String {
                guard !text.isEmpty else { throw fail("field \"prompt\" is an empty string") }
                record.text = text
            } else if let list = prompt as? [Any] {
                record.messagesJSON = try validatedMessages(list, field: "prompt", fail: fail)
            } else {
                throw fail("field \"prompt\" must be a string or a list of messages, found \(Self.kind(of: prompt))")
            }
        } else if let messages {
            guard let list = messages as? [Any] else {
                throw fail("field \"messages\" must be a list of messages, found \(Self.kind(of: messages))")
            }
            record.messagesJSON = try validatedMessages(list, field: "messages", fail: fail)
        }
        if let id = fields["id"], !(id is NSNull) {
            if let string = id as? String {
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
            record.metadataJSON = try canonicalJSON(metadata)
        }
        return record
    }

    private static func validatedMessages(_ list: [Any], field: String, fail: (String) -> PromptLineError) throws(PromptLineError) -> String {
        guard !list.isEmpty else { throw fail("field \"\(field)\" is an empty list of messages") }
        for (index, element) in list.enumerated() {
            guard let message = element as? [String: Any] else {
                throw fail("field \"\(field)\"[\(index)] must be an object with \"role\" and \"content\", found \(kind(of: element))")
            }
            guard let role = message["role"] as? String, !role.isEmpty else {
                throw fail("field \"\(field)\"[\(index)] has no string \"role\"")
            }
            guard message["content"] is String else {
                throw fail("field \"\(field)\"[\(index)] (role \(role)) has no string \"content\"")
            }
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
