import Foundation
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The built `optune` executable: `OPTUNE_BINARY`, else `optune` beside the test bundle.
func optuneExecutable() throws -> String { try OptuneProcess.executablePath() }

/// What a finished `optune` process printed, each stream apart.
struct Finished {
    var status: Int32
    var stdout: String
    var stderr: String
    var firstErrorLine: String { String(stderr.split(separator: "\n", maxSplits: 1).first ?? "") }
}

/// Runs `optune ARGUMENTS` to completion with `environment` added, standard output and error
/// apart (both files, so neither pipe can fill up).
func runOptune(
    _ arguments: [String], environment extra: [String: String], in directory: URL? = nil, timeout: Duration = .seconds(120)
) async throws -> Finished {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try optuneExecutable())
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment.removeValue(forKey: "OPTUNE_DATABASE_URL")
    environment.removeValue(forKey: "OPTUNE_HOME")
    environment.merge(extra) { $1 }
    process.environment = environment
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("optune-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let out = folder.appendingPathComponent("out"), err = folder.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    process.standardInput = FileHandle.nullDevice
    process.currentDirectoryURL = directory ?? folder
    try process.run()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning {
        if ContinuousClock.now > deadline {
            process.terminate()
            throw TestDatabaseError(message: "optune \(arguments.joined(separator: " ")) did not finish in \(timeout)")
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    return Finished(
        status: process.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
        stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}

/// The port a child started with `--metrics-port 0` serves metrics on, from its output.
func metricsPort(of child: OptuneProcess, timeout: Duration = .seconds(30)) async throws -> Int {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let range = child.output.range(of: #"serving metrics on port (\d+)"#, options: .regularExpression),
            let port = Int(child.output[range].split(separator: " ").last ?? "")
        {
            return port
        }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestDatabaseError(message: "no metrics port announced:\n\(child.output)")
}

/// `GET http://127.0.0.1:PORT/metrics`, parsed.
func scrape(port: Int) async throws -> PrometheusText {
    guard let url = URL(string: "http://127.0.0.1:\(port)/metrics") else { throw TestDatabaseError(message: "bad port \(port)") }
    let (data, response) = try await URLSession.shared.data(from: url)
    guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
        throw TestDatabaseError(message: "GET /metrics on port \(port) answered \(String(describing: response))")
    }
    return try PrometheusText(parsing: String(decoding: data, as: UTF8.self))
}
