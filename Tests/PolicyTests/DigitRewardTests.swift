import Testing

@testable import Policy

@Suite("The programmatic reward")
struct DigitRewardTests {
    let prompt = DigitPrompt(kind: .reverse, digits: [3, 1, 4, 1])  // answer 1 4 1 3

    @Test("the exact answer scores 1, with or without its EOS")
    func exactAnswerScoresOne() {
        #expect(DigitReward.score(prompt: prompt, response: [1, 4, 1, 3, 10]) == 1)
        #expect(DigitReward.score(prompt: prompt, response: [1, 4, 1, 3]) == 1)
    }

    @Test("each wrong digit costs 1/n")
    func wrongDigitCostsOneOverN() {
        #expect(DigitReward.score(prompt: prompt, response: [1, 4, 0, 3, 10]) == 0.75)
        #expect(DigitReward.score(prompt: prompt, response: [0, 0, 0, 0, 10]) == 0)
    }

    @Test("a wrong length costs a further 0.5/n per missing or extra digit")
    func wrongLengthIsPenalised() {
        // Missing one: 3 right of 4 → 3/4, minus 0.5/4 → 0.625.
        #expect(DigitReward.score(prompt: prompt, response: [1, 4, 1, 10]) == 0.625)
        // One extra: 4 right → 1, minus 0.5/4 → 0.875.
        #expect(DigitReward.score(prompt: prompt, response: [1, 4, 1, 3, 7, 10]) == 0.875)
        // Cut off at the limit without EOS: 4 right, 6 extra → 1 − 3/4 = 0.25.
        #expect(DigitReward.score(prompt: prompt, response: [1, 4, 1, 3, 1, 1, 1, 1, 1, 1]) == 0.25)
    }

    @Test("scores are clipped to [0, 1]")
    func scoresAreClipped() {
        #expect(DigitReward.score(prompt: prompt, response: [10]) == 0)
        #expect(DigitReward.score(prompt: prompt, response: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == 0)
        var rng = SplitMix64(seed: 1)
        for _ in 0..<2000 {
            let response = (0..<Int(rng.next() % 11)).map { _ in UInt32(rng.next() % 11) }
            let score = DigitReward.score(prompt: prompt, response: response)
            #expect((0...1).contains(score))
        }
    }

    @Test("ids after the first EOS are ignored")
    func idsAfterEOSAreIgnored() {
        #expect(DigitReward.score(prompt: prompt, response: [1, 4, 1, 3, 10, 5, 5]) == 1)
    }

    @Test("response text lists the digits before EOS")
    func responseText() {
        #expect(DigitVocabulary.text(of: [1, 4, 1, 3, 10]) == "1 4 1 3")
        #expect(DigitVocabulary.finishReason(of: [1, 10]) == "stop")
        #expect(DigitVocabulary.finishReason(of: [1, 2]) == "length")
    }
}
