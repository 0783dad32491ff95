import Foundation
import Testing

@testable import Policy

@Suite("The synthetic digit tasks")
struct DigitTaskTests {
    @Test("a prompt's text parses back to the same prompt")
    func textRoundTrips() {
        for prompt in DigitTaskFamily.prompts(count: 300, seed: 5) {
            #expect(DigitPrompt(text: prompt.text) == prompt)
        }
        #expect(DigitPrompt(kind: .reverse, digits: [3, 1, 4]).text == "reverse: 3 1 4")
        #expect(DigitPrompt(kind: .addOne, digits: [0, 9]).text == "add-one: 0 9")
    }

    @Test(
        "malformed prompt text is rejected",
        arguments: [
            "", "reverse", "reverse:", "reverse: ", "reverse: 3", "reverse: 1 2 3 4 5 6 7 8 9", "sort: 1 2",
            "reverse:1 2", "reverse: 1  2", "reverse: 1 2 ", "reverse: 12 3", "reverse: a b", "Reverse: 1 2",
        ])
    func malformedTextIsRejected(text: String) {
        #expect(DigitPrompt(text: text) == nil)
    }

    @Test("JSON decoding round-trips valid prompts and rejects invalid ones")
    func jsonDecoding() throws {
        let prompt = DigitPrompt(kind: .addOne, digits: [0, 9, 5])
        let data = try JSONEncoder().encode(prompt)
        #expect(try JSONDecoder().decode(DigitPrompt.self, from: data) == prompt)
        for bad in [#"{"kind":"copy","digits":[1]}"#, #"{"kind":"copy","digits":[1,12]}"#, #"{"kind":"sort","digits":[1,2]}"#] {
            #expect(throws: DecodingError.self) { try JSONDecoder().decode(DigitPrompt.self, from: Data(bad.utf8)) }
        }
    }

    @Test("each task's answer is the copy, the reversal or each digit plus one mod 10")
    func answers() {
        #expect(DigitPrompt(kind: .copy, digits: [3, 1, 4]).answer == [3, 1, 4])
        #expect(DigitPrompt(kind: .reverse, digits: [3, 1, 4]).answer == [4, 1, 3])
        #expect(DigitPrompt(kind: .addOne, digits: [3, 9, 0]).answer == [4, 0, 1])
        #expect(DigitPrompt(kind: .copy, digits: [7, 7]).answerTokens == [7, 7, DigitVocabulary.eos])
    }

    @Test("prompt sets are a pure function of the seed, distinct, and cover every kind and length")
    func promptSetsAreDeterministic() {
        let a = DigitTaskFamily.prompts(count: 1000, seed: 42)
        #expect(a == DigitTaskFamily.prompts(count: 1000, seed: 42))
        #expect(a != DigitTaskFamily.prompts(count: 1000, seed: 43))
        #expect(Set(a).count == 1000)
        #expect(Set(a.map(\.kind)) == Set(DigitTaskKind.allCases))
        #expect(Set(a.map(\.digits.count)) == Set(2...8))
    }

    @Test("train and eval splits are disjoint")
    func splitsAreDisjoint() {
        let (train, eval) = DigitTaskFamily.split(trainCount: 1000, evalCount: 1000, seed: 1)
        #expect(train.count == 1000 && eval.count == 1000)
        #expect(Set(train).isDisjoint(with: eval))
    }

    @Test("independent draws skip the excluded prompts")
    func independentDrawsSkipExcluded() {
        let excluded = Set(DigitTaskFamily.prompts(count: 200, seed: 3))
        let drawn = DigitTaskFamily.independentPrompts(count: 5000, seed: 9, excluding: excluded)
        #expect(drawn.count == 5000)
        #expect(Set(drawn).isDisjoint(with: excluded))
    }

    @Test("noisy demonstrations corrupt each task's digits at its rate and keep lengths and EOS")
    func demonstrationNoise() {
        let prompts = DigitTaskFamily.independentPrompts(count: 6000, seed: 11)
        let demos = DemonstrationNoise.standard.demonstrations(for: prompts, seed: 2)
        var wrong: [DigitTaskKind: Int] = [:]
        var total: [DigitTaskKind: Int] = [:]
        for demo in demos {
            let answer = demo.prompt.answerTokens
            #expect(demo.response.count == answer.count && demo.response.last == DigitVocabulary.eos)
            total[demo.prompt.kind, default: 0] += answer.count - 1
            wrong[demo.prompt.kind, default: 0] += zip(demo.response, answer).count { $0 != $1 }
        }
        let rate = { (kind: DigitTaskKind) in Double(wrong[kind] ?? 0) / Double(total[kind]!) }
        #expect(rate(.copy) == 0)
        #expect(abs(rate(.reverse) - 0.25) < 0.02)
        #expect(abs(rate(.addOne) - 0.45) < 0.02)
    }
}
