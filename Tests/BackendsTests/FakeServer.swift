import Foundation
import Postgres
import TestSupport

@testable import Backends

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `tools/fake_openai_server.py` as a child process: a fake OpenAI-compatible server and reward
/// endpoint with fault injection. Stopped by `withFakeServer` at the end of a test.
final class FakeServer: Sendable {
    let process: Process
    /// Always answers; serves the control endpoint.
    let port: Int
    /// Answers the same API, but can be taken down ("connection refused").
    let servicePort: Int

    var serviceURL: URL { URL(string: "http://127.0.0.1:\(servicePort)")! }
    var controlURL: URL { URL(string: "http://127.0.0.1:\(port)/control")! }

    private init(process: Process, port: Int, servicePort: Int) {
        self.process = process
        self.port = port
        self.servicePort = servicePort
    }

    /// The repository root, found from this file's path (Tests/BackendsTests/FakeServer.swift).
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func start() async throws -> FakeServer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = repositoryRoot.appendingPathComponent("tools/fake_openai_server.py").path
        process.arguments = ["python3", script, "--lifetime", "300"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let reader = output.fileHandleForReading
        // The first line names the ports. Read it on a dispatch thread (a blocking read must not
        // hold a cooperative thread); a server that stays silent is killed, which ends the read.
        let pid = process.processIdentifier
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 20, execute: watchdog)
        let line: String? = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var data = Data()
                while !data.contains(UInt8(ascii: "\n")) {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    data.append(chunk)
                }
                continuation.resume(returning: String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init))
            }
        }
        watchdog.cancel()
        let ports = (line ?? "").split(separator: " ").compactMap { Int($0) }
        guard ports.count == 2 else {
            kill(pid, SIGKILL)
            throw TestDatabaseError(message: "the fake server did not print its ports (got \(line ?? "nothing"))")
        }
        return FakeServer(process: process, port: ports[0], servicePort: ports[1])
    }

    /// SIGTERM, then SIGKILL if it is still there after two seconds. (Polls: `waitUntilExit`
    /// spins a run loop on a cooperative thread.)
    func stop() async {
        for signal in [SIGTERM, SIGKILL] {
            guard process.isRunning else { return }
            kill(process.processIdentifier, signal)
            let deadline = ContinuousClock.now + .seconds(2)
            while process.isRunning, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// POSTs `json` (a JSON object's text) to the control endpoint.
    func control(_ json: String) async throws {
        var request = URLRequest(url: controlURL)
        request.httpMethod = "POST"
        request.httpBody = Data(json.utf8)
        let (_, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else {
            throw TestDatabaseError(message: "control \(json) failed")
        }
    }

    /// The control endpoint's snapshot.
    func snapshot() async throws -> JSONValue {
        let (data, _) = try await URLSession.shared.data(from: controlURL)
        guard let value = JSONValue.parse(data) else { throw TestDatabaseError(message: "control answered no JSON") }
        return value
    }

    /// Requests served so far for "METHOD PATH", e.g. "POST /v1/completions".
    func count(_ key: String) async throws -> Int {
        Int(try await snapshot()["counts"]?[key]?.numberValue ?? 0)
    }

    /// The JSON bodies posted to the API so far (each with "path" and "authorization").
    func requests() async throws -> [JSONValue] {
        try await snapshot()["requests"]?.arrayValue ?? []
    }
}

/// Runs `body` with a fresh fake server, and stops the server afterwards, also when `body` throws.
func withFakeServer<T>(_ body: (FakeServer) async throws -> T) async throws -> T {
    let server = try await FakeServer.start()
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// HTTP settings for tests: short backoff, a breaker that does not open unless asked to.
func testHTTPSettings(attempts: Int = 3, timeout: Duration = .seconds(5), breakerFailures: Int = 100) -> HTTPClientSettings {
    var http = HTTPClientSettings(apiKey: "test-key")
    http.timeout = timeout
    http.maxAttempts = attempts
    http.backoffBase = .milliseconds(10)
    http.backoffCap = .milliseconds(40)
    http.maxConcurrentRequests = 8
    http.breaker = CircuitBreaker.Settings(failureThreshold: breakerFailures, probeInterval: .milliseconds(200))
    return http
}

func openAIBackend(
    _ server: FakeServer, _ http: HTTPClientSettings = testHTTPSettings(), configure: (inout OpenAIGenerationSettings) -> Void = { _ in }
) -> OpenAIGenerationBackend {
    var settings = OpenAIGenerationSettings(baseURL: server.serviceURL, http: http)
    configure(&settings)
    return OpenAIGenerationBackend(settings: settings)
}

/// What the fake server answers for `prompt` and the seed the daemon recorded.
enum FakeAnswer {
    static func s(_ recordedSeed: Int64) -> UInt64 { (UInt64(bitPattern: recordedSeed) & 0x7FFF_FFFF_FFFF_FFFF) % 100_000 }
    static func tokens(prompt: String, seed: Int64) -> [UInt32] { [UInt32(s(seed)), UInt32(prompt.unicodeScalars.count), UInt32.max] }
    static func text(seed: Int64) -> String { "réponse ✓ \(s(seed))" }
    static func promptTokens(_ prompt: String) -> [UInt32] { prompt.unicodeScalars.prefix(8).map { $0.value } }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
func eventually(timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

func count(_ sql: String, _ parameters: [(any PostgresEncodable)?] = [], on connection: Connection) async throws -> Int {
    try await connection.query(sql, parameters)[0].decode(0, as: Int.self)
}
