import CBLAS
import Foundation

// The batched forward and backward passes. One input row per (sequence, output step); every
// layer is one row-major `cblas_sgemm` over all rows of the batch.

/// Runs once per process, before the first GEMM: OpenBLAS's multi-threaded GEMM splits work
/// differently from its single-threaded one and rounds differently, so the same seeds would give
/// different models on machines with different core counts. Single-threaded BLAS keeps every
/// result a function of the inputs alone; parallelism belongs across requests or processes.
/// (This sets OpenBLAS's process-wide thread count.)
private let singleThreadedBLAS: Void = openblas_set_num_threads(1)

/// Buffers for one batch of rows, reused from batch to batch. Not thread-safe: one per task.
final class Workspace {
    let layout: PolicyLayout
    let features: InputFeatures

    private(set) var rows = 0
    /// rows × inputWidth, one-hot.
    let input = Scratch<Float>()
    /// rows × embeddingWidth.
    let embedding = Scratch<Float>()
    /// rows × firstHidden, after ReLU.
    let hidden1 = Scratch<Float>()
    /// rows × secondHidden, after ReLU.
    let hidden2 = Scratch<Float>()
    /// rows × outputs, before softmax.
    let logits = Scratch<Float>()
    /// rows × outputs, softmax of the logits.
    let probabilities = Scratch<Float>()
    /// The id each row predicts, or −1 when the row has no target (sampling).
    let targets = Scratch<Int32>()
    /// log π(target) of each row with a target (0 for rows without one).
    let rowLogProbabilities = Scratch<Double>()

    private let outputGradient = Scratch<Float>()
    private let hidden2Gradient = Scratch<Float>()
    private let hidden1Gradient = Scratch<Float>()
    private let embeddingGradient = Scratch<Float>()
    /// A column of `onesCount` ones, for bias broadcasts and column sums.
    private let ones = Scratch<Float>()
    private var onesCount = 0

    init(config: PolicyConfig) {
        _ = singleThreadedBLAS
        layout = config.layout
        features = InputFeatures(maxPositions: config.maxPositions)
    }

    /// Sizes the buffers for `count` rows and clears the input.
    func reset(rows count: Int) {
        rows = count
        let l = layout
        input.reserve(count * l.inputWidth)
        input.pointer.update(repeating: 0, count: count * l.inputWidth)
        embedding.reserve(count * l.embeddingWidth)
        hidden1.reserve(count * l.firstHidden)
        hidden2.reserve(count * l.secondHidden)
        logits.reserve(count * l.outputs)
        probabilities.reserve(count * l.outputs)
        targets.reserve(count)
        rowLogProbabilities.reserve(count)
        if onesCount < count {
            ones.reserve(count)
            ones.pointer.update(repeating: 1, count: count)
            onesCount = count
        }
    }

    /// Fills input row `row`: the prompt's columns, the step's position and the previous id.
    func setRow(_ row: Int, promptColumns: [Int32], step: Int, previous: UInt32?, target: UInt32?) {
        let base = input.pointer + row * layout.inputWidth
        for column in promptColumns { base[Int(column)] = 1 }
        base[Int(features.positionColumn(step))] = 1
        base[Int(features.previousColumn(previous))] = 1
        targets.pointer[row] = target.map { Int32($0) } ?? -1
    }

    /// Computes hidden layers, logits, probabilities and, for rows with targets, log π(target).
    func forward(_ parameters: UnsafePointer<Float>) {
        let l = layout
        let r = rows
        guard r > 0 else { return }
        let w = parameters
        cblas_sgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(r), blasint(l.embeddingWidth), blasint(l.inputWidth),
            1, input.pointer, blasint(l.inputWidth), w + l.inputWeights.lowerBound, blasint(l.embeddingWidth),
            0, embedding.pointer, blasint(l.embeddingWidth))
        dense(
            embedding.pointer, rows: r, inputs: l.embeddingWidth, weights: w + l.firstWeights.lowerBound,
            bias: w + l.firstBias.lowerBound, outputs: l.firstHidden, ones: ones.pointer, into: hidden1.pointer)
        relu(hidden1.pointer, count: r * l.firstHidden)
        dense(
            hidden1.pointer, rows: r, inputs: l.firstHidden, weights: w + l.secondWeights.lowerBound,
            bias: w + l.secondBias.lowerBound, outputs: l.secondHidden, ones: ones.pointer, into: hidden2.pointer)
        relu(hidden2.pointer, count: r * l.secondHidden)
        dense(
            hidden2.pointer, rows: r, inputs: l.secondHidden, weights: w + l.outputWeights.lowerBound,
            bias: w + l.outputBias.lowerBound, outputs: l.outputs, ones: ones.pointer, into: logits.pointer)
        softmaxRows()
    }

    /// Softmax per row in Double (for accurate log-probabilities), stored as Float.
    private func softmaxRows() {
        let v = layout.outputs
        for row in 0..<rows {
            let z = logits.pointer + row * v
            let p = probabilities.pointer + row * v
            var peak = z[0]
            for j in 1..<v where z[j] > peak { peak = z[j] }
            var total = 0.0
            for j in 0..<v { total += exp(Double(z[j] - peak)) }
            let logTotal = log(total)
            for j in 0..<v { p[j] = Float(exp(Double(z[j] - peak) - logTotal)) }
            let target = Int(targets.pointer[row])
            rowLogProbabilities.pointer[row] = target >= 0 ? Double(z[target] - peak) - logTotal : 0
        }
    }

    /// Writes into `gradient` (laid out like the parameters) the gradient of a loss L whose
    /// derivative with respect to each row's log π(target) is `coefficients[row]`.
    ///
    /// Uses the activations of the last ``forward(_:)``; rows without a target must have
    /// coefficient 0.
    func backward(_ parameters: UnsafePointer<Float>, coefficients: [Double], into gradient: UnsafeMutablePointer<Float>) {
        let l = layout
        let r = rows
        let v = l.outputs
        let w = parameters
        let dw = gradient
        outputGradient.reserve(r * v)
        hidden2Gradient.reserve(r * l.secondHidden)
        hidden1Gradient.reserve(r * l.firstHidden)
        embeddingGradient.reserve(r * l.embeddingWidth)
        // ∂L/∂z = c · (onehot(target) − p)
        for row in 0..<r {
            let c = Float(coefficients[row])
            let p = probabilities.pointer + row * v
            let dz = outputGradient.pointer + row * v
            for j in 0..<v { dz[j] = -c * p[j] }
            let target = Int(targets.pointer[row])
            if target >= 0 { dz[target] += c }
        }
        // Output layer, then back through the second and first ReLU layers.
        weightGradient(
            hidden2.pointer, outputGradient.pointer, rows: r, inputs: l.secondHidden, outputs: v,
            into: dw + l.outputWeights.lowerBound)
        columnSums(outputGradient.pointer, rows: r, columns: v, ones: ones.pointer, into: dw + l.outputBias.lowerBound)
        inputGradient(
            outputGradient.pointer, weights: w + l.outputWeights.lowerBound, rows: r,
            inputs: l.secondHidden, outputs: v, into: hidden2Gradient.pointer)
        reluMask(hidden2Gradient.pointer, activations: hidden2.pointer, count: r * l.secondHidden)

        weightGradient(
            hidden1.pointer, hidden2Gradient.pointer, rows: r, inputs: l.firstHidden,
            outputs: l.secondHidden, into: dw + l.secondWeights.lowerBound)
        columnSums(
            hidden2Gradient.pointer, rows: r, columns: l.secondHidden, ones: ones.pointer,
            into: dw + l.secondBias.lowerBound)
        inputGradient(
            hidden2Gradient.pointer, weights: w + l.secondWeights.lowerBound, rows: r,
            inputs: l.firstHidden, outputs: l.secondHidden, into: hidden1Gradient.pointer)
        reluMask(hidden1Gradient.pointer, activations: hidden1.pointer, count: r * l.firstHidden)

        weightGradient(
            embedding.pointer, hidden1Gradient.pointer, rows: r, inputs: l.embeddingWidth,
            outputs: l.firstHidden, into: dw + l.firstWeights.lowerBound)
        columnSums(
            hidden1Gradient.pointer, rows: r, columns: l.firstHidden, ones: ones.pointer,
            into: dw + l.firstBias.lowerBound)
        inputGradient(
            hidden1Gradient.pointer, weights: w + l.firstWeights.lowerBound, rows: r,
            inputs: l.embeddingWidth, outputs: l.firstHidden, into: embeddingGradient.pointer)

        weightGradient(
            input.pointer, embeddingGradient.pointer, rows: r, inputs: l.inputWidth,
            outputs: l.embeddingWidth, into: dw + l.inputWeights.lowerBound)
    }
}

/// A growable, uninitialised-on-growth heap buffer owned by one ``Workspace``.
final class Scratch<Element: BitwiseCopyable> {
    private(set) var pointer: UnsafeMutablePointer<Element>
    private(set) var capacity: Int

    init() {
        capacity = 0
        pointer = .allocate(capacity: 0)
    }

    /// Makes room for `count` elements; contents are unspecified after growing.
    func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        capacity = max(count, capacity * 2)
        pointer = .allocate(capacity: capacity)
    }

    deinit { pointer.deallocate() }
}

/// out (rows × outputs) = x (rows × inputs) · w (inputs × outputs) + 1 ⊗ bias.
private func dense(
    _ x: UnsafePointer<Float>, rows: Int, inputs: Int, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>,
    outputs: Int, ones: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>
) {
    cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(rows), blasint(outputs), blasint(inputs),
        1, x, blasint(inputs), weights, blasint(outputs), 0, out, blasint(outputs))
    // Adding the bias to every row is a rank-1 update with a column of ones.
    cblas_sger(CblasRowMajor, blasint(rows), blasint(outputs), 1, ones, 1, bias, 1, out, blasint(outputs))
}

/// g (inputs × outputs) = xᵀ · d, with x rows × inputs and d rows × outputs.
private func weightGradient(
    _ x: UnsafePointer<Float>, _ d: UnsafePointer<Float>, rows: Int, inputs: Int, outputs: Int,
    into g: UnsafeMutablePointer<Float>
) {
    cblas_sgemm(
        CblasRowMajor, CblasTrans, CblasNoTrans, blasint(inputs), blasint(outputs), blasint(rows),
        1, x, blasint(inputs), d, blasint(outputs), 0, g, blasint(outputs))
}

/// dx (rows × inputs) = d (rows × outputs) · wᵀ, with w inputs × outputs.
private func inputGradient(
    _ d: UnsafePointer<Float>, weights: UnsafePointer<Float>, rows: Int, inputs: Int, outputs: Int,
    into dx: UnsafeMutablePointer<Float>
) {
    cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(inputs), blasint(outputs),
        1, d, blasint(outputs), weights, blasint(outputs), 0, dx, blasint(inputs))
}

/// out (columns) = column sums of a (rows × columns).
private func columnSums(
    _ a: UnsafePointer<Float>, rows: Int, columns: Int, ones: UnsafePointer<Float>,
    into out: UnsafeMutablePointer<Float>
) {
    cblas_sgemv(CblasRowMajor, CblasTrans, blasint(rows), blasint(columns), 1, a, blasint(columns), ones, 1, 0, out, 1)
}

// The element-wise loops use `while` rather than `for … in 0..<count`: the same code in release
// builds, but debug builds (which the tests run) then skip a range-iterator call per element.

private func relu(_ a: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i < count {
        if a[i] < 0 { a[i] = 0 }
        i += 1
    }
}

/// Zeroes the gradient where the ReLU output was 0 (its derivative there is taken as 0).
private func reluMask(_ d: UnsafeMutablePointer<Float>, activations: UnsafePointer<Float>, count: Int) {
    var i = 0
    while i < count {
        if activations[i] <= 0 { d[i] = 0 }
        i += 1
    }
}
