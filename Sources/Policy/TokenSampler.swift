import Foundation

/// Draws one id from a row of logits with temperature and nucleus (top-p) filtering.
struct TokenSampler {
    var temperature: Double
    var topP: Double

    func draw(logits: UnsafePointer<Float>, using rng: inout SplitMix64) -> UInt32 {
        let v = DigitVocabulary.size
        if temperature <= 0 { return argmax(logits, count: v) }
        var peak = logits[0]
        for j in 1..<v where logits[j] > peak { peak = logits[j] }
        var weights = [Double](repeating: 0, count: v)
        var total = 0.0
        for j in 0..<v {
            weights[j] = exp(Double(logits[j] - peak) / temperature)
            total += weights[j]
        }
        // Most likely first; equal weights keep the lower id first.
        var order = Array(0..<v)
        var kept = v
        var mass = total
        if topP < 1 {
            order.sort { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && $0 < $1) }
            mass = 0
            kept = 0
            while kept < v {
                mass += weights[order[kept]]
                kept += 1
                if mass >= topP * total { break }
            }
        }
        var u = rng.nextUnit() * mass
        for k in 0..<kept {
            u -= weights[order[k]]
            if u < 0 { return UInt32(order[k]) }
        }
        return UInt32(order[kept - 1])
    }

    private func argmax(_ logits: UnsafePointer<Float>, count: Int) -> UInt32 {
        var best = 0
        for j in 1..<count where logits[j] > logits[best] { best = j }
        return UInt32(best)
    }
}
