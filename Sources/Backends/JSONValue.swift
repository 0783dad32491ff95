import Foundation

/// A JSON document as a value: what the HTTP backends build requests from and read responses
/// into, so that an unexpected shape is a typed error rather than a crash.
enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    /// An integer that fits in Int64 (kept exact: seeds, token ids).
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses `data`, or nil when it is not JSON. (JSONSerialization, then a conversion: many
    /// times faster than decoding `JSONValue` through `Codable` for large logprob lists.)
    static func parse(_ data: Data) -> JSONValue? {
        guard let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else { return nil }
        return JSONValue(foundation: object)
    }

    /// A value from what JSONSerialization returns.
    init?(foundation object: Any) {
        switch object {
        case is NSNull:
            self = .null
        case let string as String:
            self = .string(string)
        case let number as NSNumber:
            // Booleans are NSNumbers of type "c" (JSONSerialization makes no other chars).
            switch String(cString: number.objCType) {
            case "c", "B":
                self = .bool(number.boolValue)
            case "d", "f":
                self = .double(number.doubleValue)
            case "Q", "L", "I", "S", "C":
                let value = number.uint64Value
                self = value <= UInt64(Int64.max) ? .int(Int64(value)) : .double(number.doubleValue)
            default:
                if number is NSDecimalNumber {
                    self = .double(number.doubleValue)
                } else {
                    self = .int(number.int64Value)
                }
            }
        case let array as [Any]:
            var values: [JSONValue] = []
            values.reserveCapacity(array.count)
            for element in array {
                guard let value = JSONValue(foundation: element) else { return nil }
                values.append(value)
            }
            self = .array(values)
        case let dictionary as [String: Any]:
            var values: [String: JSONValue] = [:]
            values.reserveCapacity(dictionary.count)
            for (key, element) in dictionary {
                guard let value = JSONValue(foundation: element) else { return nil }
                values[key] = value
            }
            self = .object(values)
        default:
            return nil
        }
    }

    /// `self` serialized (keys sorted, so requests are reproducible).
    func serialized() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Every case encodes; a failure here would be a bug in this enum.
        return (try? encoder.encode(self)) ?? Data("null".utf8)
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }

    var objectValue: [String: JSONValue]? {
        if case .object(let object) = self { return object }
        return nil
    }

    var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    var isNull: Bool { self == .null }

    /// A number as a Double (integers included).
    var numberValue: Double? {
        switch self {
        case .int(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    /// A token id: an integer in 0...UInt32.max (a Double with an integral value counts).
    var tokenID: UInt32? {
        switch self {
        case .int(let value): return UInt32(exactly: value)
        case .double(let value): return UInt32(exactly: value)
        default: return nil
        }
    }

    /// A JSON array of token ids, or nil when any element is not one.
    var tokenIDs: [UInt32]? {
        guard let array = arrayValue else { return nil }
        var ids: [UInt32] = []
        ids.reserveCapacity(array.count)
        for element in array {
            guard let id = element.tokenID else { return nil }
            ids.append(id)
        }
        return ids
    }

    static func ids(_ ids: [UInt32]) -> JSONValue { .array(ids.map { .int(Int64($0)) }) }
}

/// Short, single-line, printable text of a body for error messages.
func bodyExcerpt(_ data: Data, limit: Int = 400) -> String {
    let text = String(decoding: data.prefix(limit * 4), as: UTF8.self)
    let collapsed = text.split(whereSeparator: { $0.isNewline || $0 == "\t" }).joined(separator: " ")
        .trimmingCharacters(in: .whitespaces)
    if collapsed.isEmpty { return "(empty body)" }
    return collapsed.count > limit ? String(collapsed.prefix(limit)) + "…" : collapsed
}

/// The message of an error body: OpenAI / vLLM `{"error": {"message": …}}`, vLLM's older
/// `{"message": …}`, FastAPI's `{"detail": …}`, or the body's text.
func serverMessage(_ data: Data) -> String {
    if let json = JSONValue.parse(data) {
        if let message = json["error"]?["message"]?.stringValue { return oneLine(message) }
        if let message = json["error"]?.stringValue { return oneLine(message) }
        if let message = json["message"]?.stringValue { return oneLine(message) }
        if let detail = json["detail"] {
            if let message = detail.stringValue { return oneLine(message) }
            return bodyExcerpt(detail.serialized())
        }
    }
    return bodyExcerpt(data)
}

private func oneLine(_ text: String, limit: Int = 400) -> String {
    bodyExcerpt(Data(text.utf8), limit: limit)
}
