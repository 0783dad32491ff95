/// 0..<count in an order fixed by `rng` (Fisher–Yates with our own generator, so the order does
/// not depend on the standard library's shuffle algorithm).
func shuffledIndices(_ count: Int, using rng: inout SplitMix64) -> [Int] {
    var indices = Array(0..<count)
    guard count > 1 else { return indices }
    for i in stride(from: count - 1, to: 0, by: -1) {
        let j = Int(rng.next() % UInt64(i + 1))
        indices.swapAt(i, j)
    }
    return indices
}
