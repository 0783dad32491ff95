import Foundation

/// Which update rule to train with.
public enum OptimizerKind: String, Sendable, Hashable, Codable {
    /// RMSProp as in PyTorch (no momentum, not centred): v ← ρv + (1−ρ)g², θ ← θ − lr·g/(√v + ε).
    /// The paper's optimiser for DPO.
    case rmsProp
    /// Adam with bias correction.
    case adam
}

/// An optimiser and its learning-rate schedule: linear warm-up over the first
/// ``warmupFraction`` of the steps, then constant, or (with ``linearDecay``) falling linearly to 0
/// at the last step.
public struct OptimizerSettings: Sendable, Hashable, Codable {
    /// The update rule.
    public var kind: OptimizerKind
    /// The learning rate after warm-up.
    public var learningRate: Double
    /// Fraction of all steps spent ramping the rate linearly up from lr/warm-up steps to lr.
    public var warmupFraction: Double
    /// After warm-up, fall linearly to 0 at the end instead of staying constant.
    public var linearDecay: Bool
    /// RMSProp's squared-gradient decay ρ (PyTorch's `alpha`).
    public var rmsPropDecay: Double
    /// Adam's first-moment decay β1.
    public var adamBeta1: Double
    /// Adam's second-moment decay β2.
    public var adamBeta2: Double
    /// Added to the root-mean-square in the denominator.
    public var epsilon: Double
    /// When set, gradients with a larger global L2 norm are scaled down to it.
    public var maxGradientNorm: Double?

    public init(
        kind: OptimizerKind, learningRate: Double, warmupFraction: Double = 0, linearDecay: Bool = false,
        rmsPropDecay: Double = 0.99,
        adamBeta1: Double = 0.9, adamBeta2: Double = 0.999, epsilon: Double = 1e-8, maxGradientNorm: Double? = nil
    ) {
        precondition(learningRate >= 0 && (0...1).contains(warmupFraction), "invalid optimiser settings")
        self.kind = kind
        self.learningRate = learningRate
        self.warmupFraction = warmupFraction
        self.linearDecay = linearDecay
        self.rmsPropDecay = rmsPropDecay
        self.adamBeta1 = adamBeta1
        self.adamBeta2 = adamBeta2
        self.epsilon = epsilon
        self.maxGradientNorm = maxGradientNorm
    }

    /// The rate at 0-based `step` of `totalSteps`.
    public func learningRate(atStep step: Int, of totalSteps: Int) -> Double {
        let warmup = Int((warmupFraction * Double(totalSteps)).rounded(.up))
        if step < warmup { return learningRate * Double(step + 1) / Double(warmup) }
        guard linearDecay else { return learningRate }
        return learningRate * Double(totalSteps - step) / Double(max(1, totalSteps - warmup))
    }
}

/// The optimiser's state for one training run (a fresh one per run).
struct Optimizer {
    let settings: OptimizerSettings
    private var first: [Float]
    private var second: [Float]
    private var steps = 0

    init(settings: OptimizerSettings, parameterCount: Int) {
        self.settings = settings
        first = settings.kind == .adam ? [Float](repeating: 0, count: parameterCount) : []
        second = [Float](repeating: 0, count: parameterCount)
    }

    /// Applies one update with rate `learningRate` to `parameters` from `gradient`.
    mutating func step(_ parameters: inout [Float], gradient: [Float], learningRate: Double) {
        steps += 1
        var scale: Float = 1
        if let limit = settings.maxGradientNorm {
            var squares = 0.0
            for g in gradient { squares += Double(g) * Double(g) }
            let norm = squares.squareRoot()
            if norm > limit { scale = Float(limit / norm) }
        }
        let epsilon = Float(settings.epsilon)
        let count = parameters.count
        switch settings.kind {
        case .rmsProp:
            let decay = Float(settings.rmsPropDecay)
            let rate = Float(learningRate)
            parameters.withUnsafeMutableBufferPointer { theta in
                second.withUnsafeMutableBufferPointer { v in
                    gradient.withUnsafeBufferPointer { grad in
                        var i = 0  // `while`, not `for in`: debug builds (the tests) run much faster
                        while i < count {
                            let g = grad[i] * scale
                            v[i] = decay * v[i] + (1 - decay) * g * g
                            theta[i] -= rate * g / (v[i].squareRoot() + epsilon)
                            i += 1
                        }
                    }
                }
            }
        case .adam:
            let (b1, b2) = (settings.adamBeta1, settings.adamBeta2)
            let t = Double(steps)
            // Bias correction folded into the rate and epsilon.
            let rate = Float(learningRate * (1 - pow(b2, t)).squareRoot() / (1 - pow(b1, t)))
            let eps = epsilon * Float((1 - pow(b2, t)).squareRoot())
            let (fb1, fb2) = (Float(b1), Float(b2))
            parameters.withUnsafeMutableBufferPointer { theta in
                first.withUnsafeMutableBufferPointer { m in
                    second.withUnsafeMutableBufferPointer { v in
                        gradient.withUnsafeBufferPointer { grad in
                            var i = 0
                            while i < count {
                                let g = grad[i] * scale
                                m[i] = fb1 * m[i] + (1 - fb1) * g
                                v[i] = fb2 * v[i] + (1 - fb2) * g * g
                                theta[i] -= rate * m[i] / (v[i].squareRoot() + eps)
                                i += 1
                            }
                        }
                    }
                }
            }
        }
    }
}
