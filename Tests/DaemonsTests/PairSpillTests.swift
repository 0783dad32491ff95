import Backends
import Foundation
import Testing

@testable import Daemons

@Suite("Training: the trainer's scratch copy of D_t")
struct PairSpillTests {
    static let pairs = [
        TrainingPair(
            prompt: PromptContent(id: 7, text: "Sort 3 1 2", messagesJSON: nil), chosen: [1, 2, 3], rejected: [3, 2], weight: 0.75),
        TrainingPair(
            prompt: PromptContent(id: 9, text: nil, messagesJSON: #"[{"role": "user", "content": "héllo ✓"}]"#), chosen: [],
            rejected: [UInt32.max, 0], weight: -0.0),
        TrainingPair(prompt: PromptContent(id: -1, text: "", messagesJSON: ""), chosen: [42], rejected: [], weight: .leastNonzeroMagnitude),
    ]

    @Test func pairsReadBackExactlyInTheOrderAskedForOnceThePassIsComplete() throws {
        let spill = PairSpill()
        spill.append(Array(Self.pairs[0..<2]), from: 0)
        #expect(try spill.pairs(at: [0]) == nil, "an incomplete pass is not served")
        spill.append(Array(Self.pairs[2...]), from: 2)
        spill.finish(count: 3)
        #expect(spill.isComplete)
        let back = try #require(try spill.pairs(at: [2, 0, 1, 0]))
        #expect(back == [Self.pairs[2], Self.pairs[0], Self.pairs[1], Self.pairs[0]])
        #expect(back.map(\.weight.bitPattern) == [2, 0, 1, 0].map { Self.pairs[$0].weight.bitPattern })
        #expect(throws: PairSpill.SpillError.self) { try spill.pairs(at: [3]) }
        #expect(throws: PairSpill.SpillError.self) { try spill.pairs(at: [-1]) }
    }

    @Test func aSecondPassOrAShortPassIsNotServed() throws {
        let repeated = PairSpill()
        repeated.append(Self.pairs, from: 0)
        repeated.append(Self.pairs, from: 0)  // a second pass: ignored
        repeated.finish(count: 3)
        #expect(try repeated.pairs(at: [0, 1, 2]) == Self.pairs)

        let short = PairSpill()
        short.append(Array(Self.pairs[0..<2]), from: 0)
        short.finish(count: 3)
        #expect(!short.isComplete)
        #expect(try short.pairs(at: [0]) == nil)
    }

    @Test func withoutATemporaryFolderTheSpillServesNothing() throws {
        let spill = PairSpill(directory: "/nonexistent-optune-folder")
        spill.append(Self.pairs, from: 0)
        spill.finish(count: 3)
        #expect(!spill.isComplete)
        #expect(try spill.pairs(at: [0]) == nil)
    }
}
