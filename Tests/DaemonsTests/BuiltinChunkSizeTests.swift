import Daemons
import Testing

/// The chunk size a built-in run gets when `--chunk-size` is not given.
@Suite("Built-in runs size their chunks to the work")
struct BuiltinChunkSizeTests {
    func task(trainPrompts: Int) -> BuiltinTask {
        var task = BuiltinTask()
        task.trainPrompts = trainPrompts
        return task
    }

    @Test func aLargeRunGetsTheLargestChunks() {
        // 48k prompts at ρ = 0.5: 24k per iteration after t = 0, 6000 per generator's quarter.
        #expect(task(trainPrompts: 48000).defaultChunkSize(rho: 0.5, generators: 1) == 2048)
    }

    @Test func everyGeneratorGetsFourChunksOfTheSmallestIteration() {
        // 24k prompts per iteration over 4 generators, 4 chunks each: 1500.
        #expect(task(trainPrompts: 48000).defaultChunkSize(rho: 0.5, generators: 4) == 1500)
        #expect(task(trainPrompts: 20000).defaultChunkSize(rho: 1, generators: 2) == 2048)
        #expect(task(trainPrompts: 12000).defaultChunkSize(rho: 0.25, generators: 1) == 750)
    }

    @Test func smallRunsKeepChunksOf256() {
        #expect(task(trainPrompts: 1000).defaultChunkSize(rho: 0.5, generators: 1) == 256)
        #expect(task(trainPrompts: 1000).defaultChunkSize(rho: 1, generators: 2) == 256)
    }

    @Test func outOfRangeInputsStayWithinTheRange() {
        #expect(task(trainPrompts: 48000).defaultChunkSize(rho: .nan, generators: 1) == 256)
        #expect(task(trainPrompts: 48000).defaultChunkSize(rho: 5, generators: 0) == 2048)
        #expect(task(trainPrompts: 0).defaultChunkSize(rho: 0.5, generators: 1) == 256)
        #expect(task(trainPrompts: Int.max).defaultChunkSize(rho: 1, generators: 1) == 2048)
    }
}
