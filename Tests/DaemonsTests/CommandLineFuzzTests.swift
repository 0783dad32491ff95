import Foundation
import TestSupport
import Testing

/// Bad numbers on the command line are clear errors, never crashes (issue 9 items 4 and 7).
///
/// The options come from `optune --experimental-dump-help`, so every subcommand's numeric option
/// is covered, including ones added later. The database URL points at a closed port: a value the
/// CLI accepts ends in a connection error (exit 1), never in a run.
@Suite("Numeric options: no crash, one clear error")
struct CommandLineFuzzTests {
    static let unreachable = "postgresql://127.0.0.1:1/none?connect_timeout=2"
    static let integerValues = ["-9223372036854775808", "9223372036854775807", "99999999999", "2147483648", "-1", "0"]
    static let doubleValues = ["-1", "0", "1e308", "-1e308", "inf", "nan", "4.9e-324"]

    /// What required options and arguments get, so that the option under test is what fails.
    static let fillers = ["run": "fuzz", "iteration": "0", "uri": "fuzz-model", "output": "/dev/null", "set": "fuzz"]
    /// Extra arguments that keep a command from doing real work once its options are accepted.
    static let extras: [String: [String]] = ["bench": ["--fixture", "/nonexistent/tokens.u32le"]]

    enum Kind { case integer, double, other }

    struct OptionCase: Sendable, CustomStringConvertible {
        var command: [String]
        var required: [String]
        var name: String
        var description: String { (command + ["--\(name)"]).joined(separator: " ") }
    }

    /// Every option that takes a value, per leaf subcommand, with its required arguments filled in.
    static func options() async throws -> [(OptionCase, defaultValue: String?)] {
        let (status, dump) = try await OptuneProcess.run(["--experimental-dump-help"], databaseURL: unreachable, timeout: .seconds(60))
        #expect(status == 0)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(dump.utf8)) as? [String: Any])
        var found: [(OptionCase, String?)] = []
        func name(of argument: [String: Any]) -> String? {
            (argument["names"] as? [[String: Any]])?.first?["name"] as? String
        }
        func walk(_ command: [String: Any], path: [String]) {
            let subcommands = command["subcommands"] as? [[String: Any]] ?? []
            if subcommands.isEmpty, path.first != "help" {
                let arguments = command["arguments"] as? [[String: Any]] ?? []
                // (option name or nil for a positional, the words that satisfy it)
                let required: [(String?, [String])] = arguments.filter { $0["isOptional"] as? Bool == false }.compactMap { argument in
                    if argument["kind"] as? String == "positional" { return (nil, ["/dev/null"]) }
                    guard let name = name(of: argument) else { return nil }
                    return (name, ["--\(name)", fillers[name] ?? "1"])
                }
                for argument in arguments where argument["kind"] as? String == "option" {
                    guard let option = name(of: argument) else { continue }
                    let others = required.filter { $0.0 != option }.flatMap(\.1) + (extras[path.first ?? ""] ?? [])
                    let defaultValue = (argument["defaultValue"] as? String)?.split(separator: ",").first.map(String.init)
                    found.append((OptionCase(command: path, required: others, name: option), defaultValue))
                }
            }
            for sub in subcommands {
                guard let name = sub["commandName"] as? String else { continue }
                walk(sub, path: path + [name])
            }
        }
        walk(try #require(root["command"] as? [String: Any]), path: [])
        return found
    }

    /// Runs `optune ARGUMENTS` against the unreachable server.
    static func run(_ arguments: [String]) async throws -> (status: Int32, signalled: Bool, output: String) {
        // Daemons wait for a database they cannot reach; here they give up at once.
        let child = try OptuneProcess(arguments, databaseURL: unreachable, environment: ["OPTUNE_WAIT_FOR_DATABASE": "0"])
        guard let status = await child.waitForExit(timeout: .seconds(60)) else {
            child.send(SIGKILL)
            throw TestDatabaseError(message: "optune \(arguments.joined(separator: " ")) hung\n\(child.output)")
        }
        return (status, child.terminatedBySignal, child.output)
    }

    /// Whether the option parses `value` (an error about the value's type means it does not).
    static func parses(_ option: OptionCase, _ value: String) async throws -> Bool {
        let result = try await run(option.command + option.required + ["--\(option.name)", value])
        return !result.output.contains("is invalid for '--\(option.name)")
    }

    static func kind(of option: OptionCase, defaultValue: String?) async throws -> Kind {
        if let defaultValue {
            let text = defaultValue.trimmingCharacters(in: .whitespaces)
            if Int64(text) != nil { return .integer }
            if Double(text) != nil { return .double }
            return .other
        }
        guard try await !parses(option, "abc") else { return .other }
        return try await parses(option, "1.5") ? .double : (try await parses(option, "7") ? .integer : .other)
    }

    /// Checks one invocation: a non-zero exit by `exit`, a first line that is an error, no crash.
    static func expectCleanFailure(_ arguments: [String], _ result: (status: Int32, signalled: Bool, output: String)) {
        let label = "optune \(arguments.joined(separator: " "))"
        #expect(!result.signalled, "\(label) died of signal \(result.status)\n\(result.output)")
        #expect(!(128...159).contains(result.status), "\(label) exited \(result.status)\n\(result.output)")
        #expect(result.status != 0, "\(label) succeeded\n\(result.output)")
        // Progress notes (`experiment`) and debug-build warnings (`bench`) may come first.
        #expect(result.output.split(separator: "\n").contains { $0.lowercased().hasPrefix("error: ") }, "\(label): \(result.output)")
        #expect(!result.output.contains("Fatal error") && !result.output.contains("Stack dump"), "\(label): \(result.output)")
    }

    @Test func everyNumericOptionOfEverySubcommandFailsCleanlyAtItsLimits() async throws {
        let options = try await Self.options()
        #expect(options.contains { $0.0.command == ["run"] && $0.0.name == "iterations" })
        #expect(options.contains { $0.0.command == ["generate"] && $0.0.name == "max-concurrency" })
        var invocations: [[String]] = []
        var integers = 0
        for (option, defaultValue) in options {
            let values: [String]
            switch try await Self.kind(of: option, defaultValue: defaultValue) {
            case .integer: values = Self.integerValues; integers += 1
            case .double: values = Self.doubleValues
            case .other: continue
            }
            invocations += values.map { option.command + option.required + ["--\(option.name)", $0] }
        }
        #expect(integers >= 20, "found only \(integers) integer options")
        try await withThrowingTaskGroup(of: ([String], (Int32, Bool, String)).self) { group in
            var pending = invocations[...]
            for _ in 0..<3 {
                guard let next = pending.popFirst() else { break }
                group.addTask { (next, try await Self.run(next)) }
            }
            while let (arguments, result) = try await group.next() {
                Self.expectCleanFailure(arguments, result)
                if let next = pending.popFirst() { group.addTask { (next, try await Self.run(next)) } }
            }
        }
    }

    /// The same values reach the database: `run --create-only` stores a run or refuses the value
    /// (the old crashes were Int32 conversions when the run was stored).
    @Test func runCreateOnlyStoresOrRefusesEveryValueWithoutCrashing() async throws {
        let options = try await Self.options().filter { $0.0.command == ["run"] }
        try await TestDatabase.withFresh { database in
            let small = ["--train-prompts": "20", "--eval-prompts": "10"]
            var count = 0
            for (option, defaultValue) in options {
                let values: [String]
                switch try await Self.kind(of: option, defaultValue: defaultValue) {
                case .integer: values = Self.integerValues
                case .double: values = Self.doubleValues
                case .other: continue
                }
                for value in values {
                    count += 1
                    let sizes = small.filter { $0.key != "--\(option.name)" }.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] }
                    let arguments = ["run", "--create-only", "--name", "fuzz-\(count)"] + sizes + ["--\(option.name)", value]
                    let child = try OptuneProcess(arguments, databaseURL: database.url)
                    let status = try #require(await child.waitForExit(timeout: .seconds(300)), "\(arguments) hung")
                    let label = "optune \(arguments.joined(separator: " "))"
                    #expect(!child.terminatedBySignal && !(128...159).contains(status), "\(label) crashed: \(status)\n\(child.output)")
                    if status == 0 {
                        let stored = try await database.connect().query(
                            "SELECT count(*) FROM optune.runs WHERE name = $1", ["fuzz-\(count)"])
                        #expect(try stored[0].decode(0, as: Int64.self) == 1, "\(label)")
                    } else {
                        #expect(status == 64, "\(label): \(child.output)")
                        #expect(
                            child.output.hasPrefix("Error: --\(option.name)") || child.output.contains("is invalid for '--\(option.name)")
                                || child.output.hasPrefix("Error: Missing value for '--\(option.name)"), "\(label): \(child.output)")
                    }
                }
            }
            #expect(count >= 50)
        }
    }

    /// The crash inputs of issue 9 and the mistakes of issue 13: usage errors naming the option.
    @Test(arguments: [
        (["run", "--iterations", "2147483648"], "--iterations must be at most"),
        (["run", "--iterations", "-1"], "--iterations must be at least 1, got -1"),
        (["run", "--samples", "99999999999"], "--samples must be at most"),
        (["run", "--samples", "1"], "--samples must be at least 2"),
        (["run", "--samples", "9"], "--samples must be at most 8 for the built-in task"),
        (["run", "--epochs", "0"], "--epochs must be in 1…"),
        (["run", "--learning-rate", "0"], "--learning-rate must be finite and > 0"),
        (["run", "--learning-rate", "-1e-3"], "--learning-rate must be finite and > 0"),
        (["run", "--beta1", "inf"], "--beta1 must be finite and > 0"),
        (["run", "--beta2", "-5"], "--beta2 must be finite and > 0"),
        (["run", "--rho", "nan"], "--rho must be in (0, 1]"),
        (["run", "--train-prompts", "0"], "--train-prompts must be in 1…"),
        (["run", "--fork", "base@99999999999"], "--fork must look like NAME@t"),
        (["task", "init", "--eval-prompts", "-9223372036854775808"], "--eval-prompts must be in 1…"),
        (["experiment", "--iterations", "2147483648"], "--iterations must be at most"),
        (["generate", "--lease-seconds", "1e300"], "--lease-seconds must be a number of seconds"),
        (["generate", "--poll-milliseconds", "-1"], "--poll-milliseconds must be at least 1"),
        (["score", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["train", "--lease-seconds", "nan"], "--lease-seconds must be a number of seconds"),
    ])
    func knownCrashInputsAreUsageErrorsNamingTheOption(arguments: [String], message: String) async throws {
        let result = try await Self.run(arguments)
        Self.expectCleanFailure(arguments, result)
        #expect(result.status == 64, "\(result.output)")
        let firstLine = result.output.split(separator: "\n").first.map(String.init) ?? ""
        #expect(firstLine.contains(message), "\(result.output)")
    }

    @Test func aMalformedDatabaseURLIsNamedAndItsPasswordHidden() async throws {
        for url in ["postgresql://u:hunter2@[::1", "postgresql://u:hun%zzter2@localhost/db", "host=localhost password=hunter2 junk"] {
            let child = try OptuneProcess(["status"], databaseURL: url)
            let status = await child.waitForExit(timeout: .seconds(60))
            #expect(status == 1)
            #expect(!child.terminatedBySignal)
            let output = child.output
            #expect(output.hasPrefix("error: OPTUNE_DATABASE_URL: invalid "), "\(output)")
            #expect(!output.contains("hunter2") && !output.contains("zzter2"), "\(output)")
            #expect(output.split(separator: "\n").count == 1, "\(output)")
        }
    }
}
