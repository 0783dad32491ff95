import Foundation
import Observability
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// HTTP settings shared by the OpenAI-compatible generation backend and the HTTP reward backend.
public struct HTTPClientSettings: Sendable, CustomStringConvertible {
    /// Sent as `Authorization: Bearer …`. Read from the environment by the CLI, never from argv;
    /// never printed (`description` redacts it).
    public var apiKey: String?
    /// The longest one HTTP request may take, from sending to the last byte of the answer.
    public var timeout: Duration = .seconds(120)
    /// Requests in flight at once per daemon.
    public var maxConcurrentRequests = 16
    /// Tries per request (the first included) on 429, 5xx, timeouts and connection errors.
    public var maxAttempts = 4
    /// Backoff before retry k (1-based): a uniformly random delay in [0, min(cap, base·2^(k−1))]
    /// ("full jitter"); a `Retry-After` header, when longer, is honoured up to the cap.
    public var backoffBase: Duration = .milliseconds(500)
    public var backoffCap: Duration = .seconds(10)
    public var breaker = CircuitBreaker.Settings()

    public init(apiKey: String? = nil) {
        self.apiKey = apiKey
    }

    public var description: String {
        "HTTPClientSettings(apiKey: \(apiKey == nil ? "none" : "<redacted>"), timeout: \(timeout.formattedSeconds), "
            + "maxConcurrentRequests: \(maxConcurrentRequests), maxAttempts: \(maxAttempts), breaker: \(breaker.failureThreshold) failures / probe every \(breaker.probeInterval.formattedSeconds))"
    }
}

/// One HTTP endpoint (a server): a URL session, retries with backoff, and a circuit breaker.
final class HTTPEndpoint: Sendable {
    /// Names the endpoint in messages: scheme, host, port and path, never credentials.
    let name: String
    let settings: HTTPClientSettings
    let breaker: CircuitBreaker
    private let session: URLSession

    init(name: String, settings: HTTPClientSettings) {
        self.name = name
        self.settings = settings
        breaker = CircuitBreaker(settings: settings.breaker, metricsName: name)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = max(1, settings.maxConcurrentRequests)
        configuration.timeoutIntervalForRequest = settings.timeout.secondsValue + 5
        configuration.timeoutIntervalForResource = settings.timeout.secondsValue + 5
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        session = URLSession(configuration: configuration)
    }

    deinit {
        session.invalidateAndCancel()
    }

    /// A final HTTP answer: 2xx, or a status the caller decides about (4xx other than 429).
    struct Answer: Sendable {
        var status: Int
        var body: Data
        var latency: Duration
    }

    /// Sends a request, retrying 429, 5xx, timeouts and connection errors with backoff and
    /// jitter, through the circuit breaker. Returns any 2xx answer and 4xx answers other than
    /// 429, 401 and 403 (the caller decides about those); throws a retryable `BackendError`
    /// when the attempts run out (`unavailable` when the endpoint was unreachable, answered 503,
    /// or its circuit is open), an `unavailable` one that trips the circuit on 401/403 (a bad
    /// key is the daemon's problem, not the task's), and a non-retryable one for errors no
    /// retry can fix (an unsupported URL, TLS trust).
    func send(_ method: String, _ url: URL, json body: JSONValue? = nil, what: String) async throws -> Answer {
        let request = request(method, url, json: body)
        var lastFailure = ""
        var lastUnavailable = false
        for attempt in 1...max(1, settings.maxAttempts) {
            guard await breaker.allowsRequest() else {
                throw BackendError("\(what) at \(name) not sent: \(await breaker.openDescription())", retryable: true, unavailable: true)
            }
            let started = ContinuousClock.now
            var retryAfter: Duration?
            switch await attemptOnce(request) {
            case .answer(let status, let data, let retryAfterHeader):
                let latency = ContinuousClock.now - started
                if (200..<300).contains(status) {
                    await breaker.recordSuccess()
                    return Answer(status: status, body: data, latency: latency)
                }
                if status == 429 {
                    // The server is up, only busy: not a breaker failure.
                    await breaker.recordSuccess()
                    lastFailure = "HTTP 429 (\(serverMessage(data)))"
                    lastUnavailable = false
                    retryAfter = retryAfterHeader
                } else if status >= 500 {
                    lastFailure = "HTTP \(status) (\(serverMessage(data)))"
                    lastUnavailable = status == 503
                    retryAfter = status == 503 ? retryAfterHeader : nil
                    await breaker.recordFailure(lastFailure)
                } else if status == 401 || status == 403 {
                    // A key the server refuses fails every request alike: not the task's fault.
                    // Stop leasing (trip the circuit) rather than kill tasks one by one.
                    let reason = "HTTP \(status) (\(serverMessage(data))); check the API key in the environment"
                    await breaker.trip(reason)
                    throw BackendError("\(what) at \(name) was refused: \(reason)", retryable: true, unavailable: true)
                } else {
                    await breaker.recordSuccess()
                    return Answer(status: status, body: data, latency: latency)
                }
            case .timedOut:
                lastFailure = "no answer within \(settings.timeout.formattedSeconds)"
                lastUnavailable = false
                await breaker.recordFailure(lastFailure)
            case .unreachable(let message):
                lastFailure = message
                lastUnavailable = true
                await breaker.recordFailure(lastFailure)
            case .transient(let message):
                lastFailure = message
                lastUnavailable = false
                await breaker.recordFailure(lastFailure)
            case .fatal(let message):
                throw BackendError("\(what) at \(name) failed: \(message)", retryable: false)
            }
            guard attempt < settings.maxAttempts else { break }
            OptuneMetrics.backendRetry(endpoint: name)
            try await Task.sleep(for: backoff(attempt: attempt, retryAfter: retryAfter))
        }
        let open = !(await breaker.allowsRequest())
        throw BackendError(
            "\(what) at \(name) failed after \(settings.maxAttempts) attempts: \(lastFailure)"
                + (open ? "; \(await breaker.openDescription())" : ""),
            retryable: true, unavailable: lastUnavailable || open)
    }

    /// How long a probe of an open circuit may take: short, so a daemon waiting on a hung
    /// server still notices SIGTERM promptly.
    var probeTimeout: Duration { min(settings.timeout, .seconds(10)) }

    /// A request with the JSON headers and, when there is a key, `Authorization`.
    func request(_ method: String, _ url: URL, json body: JSONValue? = nil) -> URLRequest {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = settings.timeout.secondsValue + 5
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        if let body {
            request.httpBody = body.serialized()
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let apiKey = settings.apiKey, !apiKey.isEmpty {
            request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization")
        }
        return request
    }

    /// The delay before retry `attempt` + 1.
    func backoff(attempt: Int, retryAfter: Duration?) -> Duration {
        let base = settings.backoffBase.secondsValue
        let cap = settings.backoffCap.secondsValue
        let ceiling = min(cap, base * pow(2, Double(attempt - 1)))
        var delay = Double.random(in: 0...max(0, ceiling))
        if let retryAfter { delay = max(delay, min(cap, retryAfter.secondsValue)) }
        return .milliseconds(Int64((delay * 1000).rounded()))
    }

    /// One attempt's outcome.
    enum Outcome: Sendable {
        case answer(status: Int, body: Data, retryAfter: Duration?)
        case timedOut
        /// Nothing reached the server: connection refused, unknown host, no route.
        case unreachable(String)
        /// The connection broke mid-way.
        case transient(String)
        /// Retrying cannot help (bad URL, TLS trust failure, …).
        case fatal(String)
    }

    /// One HTTP exchange, bounded by `timeout` (default: `settings.timeout`).
    func attemptOnce(_ request: URLRequest, timeout: Duration? = nil) async -> Outcome {
        let timeout = timeout ?? settings.timeout
        let outcome = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask { await self.exchange(request) }
            group.addTask {
                do {
                    try await Task.sleep(for: timeout)
                    return .timedOut
                } catch {
                    return nil
                }
            }
            var outcome: Outcome = .timedOut
            while let next = await group.next() {
                if let next {
                    outcome = next
                    break
                }
            }
            group.cancelAll()
            return outcome
        }
        OptuneMetrics.backendRequest(endpoint: name, outcome: outcome.metricLabel)
        return outcome
    }

    /// The URL session exchange; cancelling the calling task cancels the request.
    private func exchange(_ request: URLRequest) async -> Outcome {
        let holder = DataTaskHolder()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let task = session.dataTask(with: request) { data, response, error in
                    continuation.resume(returning: Self.outcome(data: data, response: response, error: error))
                }
                holder.start(task)
            }
        } onCancel: {
            holder.cancel()
        }
    }

    static func outcome(data: Data?, response: URLResponse?, error: (any Error)?) -> Outcome {
        if let error {
            let code = (error as? URLError)?.code
            let text = (error as NSError).localizedDescription
            switch code {
            case .timedOut?: return .timedOut
            case .cancelled?: return .transient("request cancelled")
            case .cannotConnectToHost?, .cannotFindHost?, .dnsLookupFailed?, .notConnectedToInternet?, .resourceUnavailable?:
                return .unreachable("cannot connect (\(text))")
            case .networkConnectionLost?, .badServerResponse?, .zeroByteResource?, .cannotParseResponse?, .cannotDecodeRawData?,
                .dataLengthExceedsMaximum?, .secureConnectionFailed?, .callIsActive?, .internationalRoamingOff?, .dataNotAllowed?:
                return .transient("connection failed (\(text))")
            case .badURL?, .unsupportedURL?, .serverCertificateUntrusted?, .serverCertificateHasBadDate?,
                .serverCertificateNotYetValid?, .serverCertificateHasUnknownRoot?, .clientCertificateRejected?,
                .clientCertificateRequired?, .userAuthenticationRequired?:
                return .fatal(text)
            default:
                return .transient("request failed (\(text))")
            }
        }
        guard let http = response as? HTTPURLResponse else {
            return .transient("the answer is not HTTP")
        }
        var retryAfter: Duration?
        if let value = http.value(forHTTPHeaderField: "Retry-After"), let seconds = Double(value.trimmingCharacters(in: .whitespaces)),
            seconds >= 0
        {
            retryAfter = .milliseconds(Int64(min(seconds, 86_400) * 1000))  // any longer is capped by backoffCap anyway
        }
        return .answer(status: http.statusCode, body: data ?? Data(), retryAfter: retryAfter)
    }
}

/// Holds a data task so that cancellation, which may come before the task exists, reaches it.
private final class DataTaskHolder: Sendable {
    private struct State {
        var task: URLSessionDataTask?
        var cancelled = false
    }
    private let state = Mutex(State())

    func start(_ task: URLSessionDataTask) {
        let cancelled = state.withLock { state in
            state.task = task
            return state.cancelled
        }
        if cancelled { task.cancel() } else { task.resume() }
    }

    func cancel() {
        let task = state.withLock { state in
            state.cancelled = true
            return state.task
        }
        task?.cancel()
    }
}

/// The URL of `path` under `base` (whose path may or may not end in "/").
func appending(_ path: String, to base: URL) -> URL {
    var text = base.absoluteString
    while text.hasSuffix("/") { text.removeLast() }
    return URL(string: text + "/" + path.drop(while: { $0 == "/" })) ?? base
}

/// `url` without user, password, query or fragment, for messages.
func displayName(of url: URL) -> String {
    guard var components = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return "the server" }
    components.user = nil
    components.password = nil
    components.query = nil
    components.fragment = nil
    return components.string ?? "the server"
}

/// Runs `body` over `items` with at most `limit` at once; results in input order.
func boundedMap<T: Sendable, R: Sendable>(
    _ items: [T], limit: Int, _ body: @escaping @Sendable (T) async -> R
) async -> [R] {
    guard !items.isEmpty else { return [] }
    return await withTaskGroup(of: (Int, R).self) { group in
        var results = [R?](repeating: nil, count: items.count)
        var next = 0
        func launch() {
            let index = next
            let item = items[index]
            group.addTask { (index, await body(item)) }
            next += 1
        }
        while next < min(max(1, limit), items.count) { launch() }
        while let (index, result) = await group.next() {
            results[index] = result
            if next < items.count { launch() }
        }
        return results.map { $0! }
    }
}

/// The most telling of several failures: one no retry can fix, else a retryable one, else an
/// `unavailable` one.
/// Scores `parts` with `score`, at most `limit` at once, and returns the scores in order; when any
/// part fails, the most severe failure is thrown (see ``mostSevere(_:)``).
func scoreConcurrently<Part: Sendable>(
    _ parts: [Part], limit: Int, _ score: @escaping @Sendable (Part) async throws -> [Double]
) async throws -> [Double] {
    let outcomes = await boundedMap(parts, limit: limit) { part in
        do {
            return Result<[Double], BackendError>.success(try await score(part))
        } catch let error as BackendError {
            return .failure(error)
        } catch {
            return .failure(BackendError("scoring failed: \(error)", retryable: true))
        }
    }
    let errors = outcomes.compactMap { outcome -> BackendError? in
        if case .failure(let error) = outcome { return error }
        return nil
    }
    if let error = mostSevere(errors) { throw error }
    return outcomes.flatMap { (try? $0.get()) ?? [] }
}

func mostSevere(_ errors: [BackendError]) -> BackendError? {
    errors.first { !$0.retryable } ?? errors.first { !$0.unavailable } ?? errors.first
}

extension HTTPEndpoint.Outcome {
    /// The `outcome` label of `optune_backend_requests_total`.
    var metricLabel: String {
        switch self {
        case .answer(let status, _, _):
            switch status {
            case 200..<300: "2xx"
            case 429: "429"
            case 500...: "5xx"
            default: "4xx"
            }
        case .timedOut: "timeout"
        case .unreachable: "unreachable"
        case .transient: "transient"
        case .fatal: "fatal"
        }
    }
}
