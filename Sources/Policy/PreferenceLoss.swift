import Foundation

/// Which preference loss to train with (DESIGN §2 step 5).
public enum PreferenceLossKind: String, Sendable, Hashable, Codable {
    /// L = −mean[ log σ(β1·m) ]: every pair counts the same (the pairs' weights are ignored).
    case dpo
    /// L = −mean[ R · log σ(β1·m) ]: each pair weighted by its ``PreferencePair/weight`` R.
    case wdpo
}

/// The DPO/wDPO loss as a pure function of the per-pair margins
/// m = Δ(y_w) − Δ(y_l), where Δ(y) = log π_θ(y|x) − log π_ref(y|x):
///
///     L(m) = −(1/B) Σ_i w_i · log σ(β·m_i)
///     ∂L/∂m_i = −(w_i/B) · β · σ(−β·m_i)
///
/// DPO is the case w_i = 1. The mean is over the B pairs (not normalised by Σw).
public enum PreferenceLoss {
    /// L(m) for margins `margins`, per-pair weights `weights` and β = `beta`.
    public static func value(margins: [Double], weights: [Double], beta: Double) -> Double {
        precondition(margins.count == weights.count, "one weight per margin")
        guard !margins.isEmpty else { return 0 }
        var sum = 0.0
        for (m, w) in zip(margins, weights) { sum += w * logSigmoid(beta * m) }
        return -sum / Double(margins.count)
    }

    /// ∂L/∂m_i for each pair.
    public static func gradient(margins: [Double], weights: [Double], beta: Double) -> [Double] {
        precondition(margins.count == weights.count, "one weight per margin")
        let b = Double(margins.count)
        return zip(margins, weights).map { m, w in -(w / b) * beta * sigmoid(-beta * m) }
    }

    /// The weights `kind` uses: the pairs' own for wDPO, all 1 for DPO.
    public static func weights(_ kind: PreferenceLossKind, of pairs: [PreferencePair]) -> [Double] {
        switch kind {
        case .dpo: [Double](repeating: 1, count: pairs.count)
        case .wdpo: pairs.map(\.weight)
        }
    }

    /// The weight DESIGN §2 step 4 gives a pair: R = σ(β2·(r_w − r_l)).
    public static func pairWeight(chosenReward: Double, rejectedReward: Double, beta2: Double) -> Double {
        sigmoid(beta2 * (chosenReward - rejectedReward))
    }
}

/// log σ(x) without overflow for large |x|.
func logSigmoid(_ x: Double) -> Double {
    x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x))
}

/// σ(x) = 1 / (1 + e^−x), without overflow.
func sigmoid(_ x: Double) -> Double {
    x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
}
