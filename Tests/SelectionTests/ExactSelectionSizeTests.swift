import Foundation
import Selection
import Testing

@Suite("Exact selection size ⌈ρ·|P|⌉")
struct ExactSelectionSizeTests {
    /// ⌈k/100 · count⌉ computed only with integers.
    static func exactCeiling(hundredths k: Int, count: Int) -> Int { (k * count + 99) / 100 }

    @Test func zeroPointZeroSevenOfAHundredIsSeven() {
        // In floating point 0.07 · 100 = 7.000000000000001, whose ceiling is 8.
        #expect((0.07 * 100.0).rounded(.up) == 8)
        #expect(Selector.selectionSize(rho: 0.07, promptCount: 100) == 7)
    }

    @Test func everyTwoDecimalRatioMatchesIntegerArithmeticWhereFloatingPointIsOffByOne() {
        // Brute force: every ρ = k/100 and |P| ≤ 2000 where the float ceiling is wrong must
        // still come out exact; there must be such cases, or the test proves nothing.
        var floatWrong = 0
        for k in 1...100 {
            let rho = Double(k) / 100
            for count in 1...2000 {
                let exact = Self.exactCeiling(hundredths: k, count: count)
                if Int((rho * Double(count)).rounded(.up)) != exact { floatWrong += 1 }
                #expect(Selector.selectionSize(rho: rho, promptCount: count) == exact, "ρ = \(rho), |P| = \(count)")
            }
        }
        #expect(floatWrong > 100)
    }

    @Test func ratiosParseAsDecimals() throws {
        let seven = try #require(DecimalRatio("0.07"))
        #expect(seven.numerator == 7 && seven.scale == 2)
        #expect(DecimalRatio("0.50")?.description == "0.5")
        #expect(DecimalRatio(".5")?.description == "0.5")
        #expect(DecimalRatio("5e-2")?.description == "0.05")
        #expect(DecimalRatio("1E-05")?.ceilingOfProduct(100_000) == 1)
        #expect(DecimalRatio("1")?.ceilingOfProduct(7) == 7)
        #expect(DecimalRatio("1.000")?.description == "1")
        #expect(DecimalRatio(1e-5)?.description == "0.00001")
        for bad in ["", ".", "0", "0.0", "-0.5", "+0.5", "1.01", "2", "0.5 ", "nan", "inf", "0x1p-1", "1e", "1e5", "0..5", "٠.٥"] {
            #expect(DecimalRatio(bad) == nil, "\(bad)")
        }
    }

    @Test func tinyAndLongRatiosStayExact() throws {
        // 0.1 + 0.2 prints as 0.30000000000000004: more than 0.3, so ⌈ρ · 10⌉ = 4.
        let sum = try #require(DecimalRatio(0.1 + 0.2))
        #expect(sum.ceilingOfProduct(10) == 4)
        #expect(try #require(DecimalRatio("0.3")).ceilingOfProduct(10) == 3)
        #expect(try #require(DecimalRatio("1e-300")).ceilingOfProduct(Int.max) == 1)
        #expect(try #require(DecimalRatio("0.9999999999999999999")).ceilingOfProduct(Int.max) == Int.max)
        #expect(try #require(DecimalRatio("0.5")).ceilingOfProduct(0) == 0)
    }
}
