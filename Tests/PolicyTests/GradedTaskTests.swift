import Foundation
import Testing

@testable import Policy

@Suite("The graded task family")
struct GradedTaskTests {
    @Test("demo noise grows with kind and length, from 0% to 50% in 11 levels spread over every kind")
    func gradedRates() throws {
        let noise = DemonstrationNoise.graded
        #expect(noise.rate(for: DigitPrompt(kind: .copy, digits: [1, 2])) == 0)
        #expect(abs(noise.rate(for: DigitPrompt(kind: .copy, digits: [1, 2, 3, 4, 5, 6, 7, 8])) - 0.30) < 1e-12)
        #expect(abs(noise.rate(for: DigitPrompt(kind: .reverse, digits: [1, 2, 3])) - 0.15) < 1e-12)
        #expect(abs(noise.rate(for: DigitPrompt(kind: .addOne, digits: [1, 2, 3, 4, 5, 6, 7, 8])) - 0.50) < 1e-12)
        let prompts = DigitTaskFamily.prompts(count: 3000, seed: 4)
        let levels = Dictionary(grouping: prompts, by: \.difficulty)
        #expect(Set(levels.keys) == Set(0...10))
        for kind in DigitTaskKind.allCases {
            let kindLevels = Set(prompts.filter { $0.kind == kind }.map(\.difficulty))
            #expect(kindLevels.count == 7, "\(kind): one level per length")
        }
        // The original family is unchanged: noise per kind only.
        let standard = DemonstrationNoise.standard
        #expect(standard.rate(for: DigitPrompt(kind: .reverse, digits: [1, 2])) == 0.25)
        #expect(standard.rate(for: DigitPrompt(kind: .reverse, digits: [1, 2, 3, 4, 5, 6, 7, 8])) == 0.25)
        #expect(BuiltinTaskFamily.digits.noise == .standard && BuiltinTaskFamily.graded.noise == .graded)
    }

    @Test("graded demonstrations corrupt each level's digits at its rate")
    func gradedDemonstrations() {
        let prompts = DigitTaskFamily.independentPrompts(count: 20_000, seed: 12)
        let demos = DemonstrationNoise.graded.demonstrations(for: prompts, seed: 5)
        var wrong: [Int: Int] = [:]
        var total: [Int: Int] = [:]
        for demo in demos {
            let answer = demo.prompt.answerTokens
            #expect(demo.response.count == answer.count && demo.response.last == DigitVocabulary.eos)
            total[demo.prompt.difficulty, default: 0] += answer.count - 1
            wrong[demo.prompt.difficulty, default: 0] += zip(demo.response, answer).count { $0 != $1 }
        }
        for level in 0...10 {
            let observed = Double(wrong[level] ?? 0) / Double(total[level] ?? 1)
            #expect(abs(observed - Double(level) * 0.05) < 0.03, "level \(level): \(observed)")
        }
    }

    @Test("metadata records kind, length and difficulty as a JSON object")
    func metadata() throws {
        let prompt = DigitPrompt(kind: .addOne, digits: [3, 1, 4, 1])
        let object = try #require(JSONSerialization.jsonObject(with: Data(prompt.metadataJSON.utf8)) as? [String: Any])
        #expect(object["kind"] as? String == "add-one")
        #expect(object["digits"] as? Int == 4)
        #expect(object["difficulty"] as? Int == 6)
        #expect(object["task"] as? String == "digits")
    }

    @Test("noise decodes without a length slope (the original shape)")
    func decodeWithoutSlope() throws {
        var object = try #require(
            JSONSerialization.jsonObject(with: JSONEncoder().encode(DemonstrationNoise.standard)) as? [String: Any])
        object["lengthSlope"] = nil
        let noise = try JSONDecoder().decode(DemonstrationNoise.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(noise == .standard)
        let roundTrip = try JSONDecoder().decode(DemonstrationNoise.self, from: JSONEncoder().encode(DemonstrationNoise.graded))
        #expect(roundTrip == .graded)
        var negative = try #require(
            JSONSerialization.jsonObject(with: JSONEncoder().encode(DemonstrationNoise.standard)) as? [String: Any])
        negative["lengthSlope"] = negative["corruption"].map { _ in ["copy", -1.0] }
        let bad = try JSONSerialization.data(withJSONObject: negative)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(DemonstrationNoise.self, from: bad) }
    }
}
