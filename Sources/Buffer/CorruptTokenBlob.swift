import TokenCodec

/// A stored token blob failed to decode. Every Buffer read that decodes a blob (export, the
/// trainer's ``ReplayBuffer/trainingPairs(run:t:)``, response read-back for scoring) throws this,
/// so the message names the row to repair or exclude. Not retryable: the same bytes fail again.
public struct CorruptTokenBlob: Error, Sendable, Hashable, CustomStringConvertible {
    /// Which column held the blob.
    public enum Column: String, Sendable, Hashable {
        /// `optune.responses.tokens`: the generated ids.
        case responseTokens = "responses.tokens"
        /// `optune.responses.prompt_tokens`: the prompt ids the generation server reported.
        case responsePromptTokens = "responses.prompt_tokens"
        /// `optune.prompts.tokens`: ids stored with the prompt.
        case promptTokens = "prompts.tokens"
    }

    /// The response whose blob is corrupt; nil when the blob is a prompt's (`prompts.tokens`).
    public var response: Int64?
    /// The prompt the response answers (or whose blob is corrupt).
    public var prompt: Int64
    /// The run and iteration being read (for a response: the ones it was generated in).
    public var run: Int64
    public var t: Int
    public var column: Column
    /// The codec's reason.
    public var underlying: TokenBlobError

    public init(response: Int64?, prompt: Int64, run: Int64, t: Int, column: Column, underlying: TokenBlobError) {
        self.response = response
        self.prompt = prompt
        self.run = run
        self.t = t
        self.column = column
        self.underlying = underlying
    }

    /// One line, e.g. `corrupt token blob in responses.tokens of response 42 (run 3, t 1, prompt 7): …`.
    public var description: String {
        let row =
            response.map { "response \($0) (run \(run), t \(t), prompt \(prompt))" } ?? "prompt \(prompt) (read for run \(run), t \(t))"
        return "corrupt token blob in \(column.rawValue) of \(row): \(underlying)"
    }
}

extension TokenBlobDecoder {
    /// Decodes `blob` (nil for SQL NULL), wrapping a codec error in ``CorruptTokenBlob`` with
    /// the row's identity.
    mutating func decode(
        _ blob: UnsafeRawBufferPointer?, response: Int64?, prompt: Int64, run: Int64, t: Int, column: CorruptTokenBlob.Column
    ) throws(CorruptTokenBlob) -> [UInt32]? {
        guard let blob else { return nil }
        do {
            return try decode(blob)
        } catch {
            throw CorruptTokenBlob(response: response, prompt: prompt, run: run, t: t, column: column, underlying: error)
        }
    }
}

/// `t` as the `integer` the schema stores, or a clear error for a value no iteration can have.
func int32Iteration(_ t: Int) throws -> Int32 {
    guard let value = Int32(exactly: t), value >= 0 else {
        throw BufferError("iteration \(t) is out of range (0…\(Int32.max))")
    }
    return value
}
