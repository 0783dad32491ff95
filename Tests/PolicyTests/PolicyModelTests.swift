import Foundation
import Testing

@testable import Policy

@Suite("Sampling and scoring with the policy")
struct SamplingTests {
    /// A trained-ish model, so distributions are neither uniform nor one-hot.
    static let model = Fixtures.smallTrainedModel
    static let prompts = DigitTaskFamily.prompts(count: 64, seed: 8)

    @Test("the same seeds give the same responses")
    func reproduciblePerSeed() {
        let seeds = (0..<64).map { UInt64($0) * 7 + 1 }
        let a = Self.model.sample(prompts: Self.prompts, seeds: seeds)
        #expect(a == Self.model.sample(prompts: Self.prompts, seeds: seeds))
    }

    @Test("different seeds give different responses")
    func differsAcrossSeeds() {
        let a = Self.model.sample(prompts: Self.prompts, seeds: (0..<64).map { UInt64($0) })
        let b = Self.model.sample(prompts: Self.prompts, seeds: (0..<64).map { UInt64($0) + 1000 })
        #expect(zip(a, b).count { $0 != $1 } > 16)
    }

    @Test("a response depends only on its prompt and seed, not on the rest of the batch")
    func independentOfBatch() {
        let seeds = (0..<64).map { UInt64($0) &* 31 }
        let batched = Self.model.sample(prompts: Self.prompts, seeds: seeds)
        for i in [0, 17, 63] {
            #expect(Self.model.sample(prompts: [Self.prompts[i]], seeds: [seeds[i]]) == [batched[i]])
        }
    }

    @Test("a tiny top-p and a zero temperature are both greedy")
    func tinyTopPIsGreedy() {
        let greedy = Self.model.greedy(prompts: Self.prompts)
        let seeds = (0..<64).map { UInt64($0) + 5 }
        #expect(Self.model.sample(prompts: Self.prompts, seeds: seeds, topP: 1e-9) == greedy)
        #expect(Self.model.sample(prompts: Self.prompts, seeds: seeds, temperature: 0) == greedy)
    }

    @Test("responses stop right after EOS or at the token limit")
    func responsesStopAtEOSOrLimit() {
        let untrained = PolicyModel(config: Fixtures.smallConfig, seed: 3)
        let responses = untrained.sample(prompts: Self.prompts, seeds: (0..<64).map { UInt64($0) }, maxTokens: 6)
        for response in responses {
            #expect(!response.isEmpty && response.count <= 6)
            #expect(!response.dropLast().contains(DigitVocabulary.eos))
            #expect(response.last == DigitVocabulary.eos || response.count == 6)
        }
    }

    @Test("the probabilities of all one-id continuations sum to 1")
    func oneStepProbabilitiesSumToOne() {
        let prompt = Self.prompts[0]
        let ids = (0..<UInt32(DigitVocabulary.size)).map { [3, $0] }
        let total = Self.model.logProbabilities(prompts: Array(repeating: prompt, count: ids.count), responses: ids)
            .reduce(0.0) { $0 + exp($1) }
        let prefix = Self.model.logProbabilities(prompts: [prompt], responses: [[3]])[0]
        #expect(abs(total - exp(prefix)) < 1e-5)
    }

    @Test("a response's log-probability does not depend on its batch")
    func logProbabilityIndependentOfBatch() {
        let responses = Self.model.sample(prompts: Self.prompts, seeds: (0..<64).map { UInt64($0) })
        let batched = Self.model.logProbabilities(prompts: Self.prompts, responses: responses)
        let alone = Self.model.logProbabilities(prompts: [Self.prompts[5]], responses: [responses[5]])
        #expect(abs(alone[0] - batched[5]) < 1e-5)
        let allNegativeAndFinite = batched.allSatisfy { $0 < 0 && $0.isFinite }
        #expect(allNegativeAndFinite)
    }
}

@Suite("Serialized policies")
struct SerializationTests {
    @Test("serialization round-trips bit-exactly")
    func roundTrip() throws {
        let model = Fixtures.smallTrainedModel
        let bytes = model.serialized()
        #expect(bytes.count == PolicyModel.headerByteCount + 4 * model.layout.count)
        let back = try PolicyModel(serialized: bytes)
        #expect(back.config == model.config)
        #expect(back.parameters.map(\.bitPattern) == model.parameters.map(\.bitPattern))
        #expect(back.serialized() == bytes)
        #expect(back.fingerprint == model.fingerprint)
    }

    @Test("the fingerprint changes when any weight does")
    func fingerprintTracksWeights() {
        var model = PolicyModel(config: Fixtures.smallConfig, seed: 1)
        let before = model.fingerprint
        #expect(before == PolicyModel(config: Fixtures.smallConfig, seed: 1).fingerprint)
        model.parameters[model.layout.count - 1] += 1e-6
        #expect(model.fingerprint != before)
    }

    @Test("a config decodes from JSON only with positive sizes")
    func configDecoding() throws {
        let data = try JSONEncoder().encode(Fixtures.smallConfig)
        #expect(try JSONDecoder().decode(PolicyConfig.self, from: data) == Fixtures.smallConfig)
        let bad = #"{"embeddingWidth":0,"firstHidden":8,"secondHidden":8,"maxPositions":12}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(PolicyConfig.self, from: Data(bad.utf8)) }
    }

    @Test("damaged bytes are rejected with a typed error")
    func damagedBytesAreRejected() {
        let bytes = PolicyModel(config: Fixtures.smallConfig, seed: 1).serialized()
        #expect(throws: PolicyFormatError.truncatedHeader(length: 10)) { try PolicyModel(serialized: Array(bytes[..<10])) }
        var badMagic = bytes
        badMagic[0] = 0
        #expect(throws: PolicyFormatError.badMagic) { try PolicyModel(serialized: badMagic) }
        var badVersion = bytes
        badVersion[4] = 9
        #expect(throws: PolicyFormatError.unsupportedVersion(9)) { try PolicyModel(serialized: badVersion) }
        #expect(throws: PolicyFormatError.lengthMismatch(expected: bytes.count, got: bytes.count - 4)) {
            try PolicyModel(serialized: Array(bytes.dropLast(4)))
        }
        var badShape = bytes
        badShape[16] &+= 1  // first hidden width no longer matches the parameter count
        #expect(throws: PolicyFormatError.self) { try PolicyModel(serialized: badShape) }
    }
}
