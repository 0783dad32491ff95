import Foundation
import Observability
import Testing

@testable import Backends

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// In-process: the endpoint serves what the recording helpers and the HTTP backend record.
/// (This is the only test that bootstraps swift-metrics in the test process.)
@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    @Test func theEndpointServesRecordedMetricsAndHTTPBackendOutcomes() async throws {
        let endpoint = try MetricsEndpoint.start(port: 0)
        OptuneMetrics.prepare("scoring")
        OptuneMetrics.leased("scoring", count: 3, after: .milliseconds(2))
        OptuneMetrics.completed("scoring", count: 2)
        OptuneMetrics.failed("scoring", count: 1)
        OptuneMetrics.iteration(run: "a \"quoted\" run", t: 4, state: "scoring")

        // Nothing listens on a freshly closed port: every attempt is unreachable, and retried.
        let closed = try freePort()
        var settings = HTTPClientSettings()
        settings.maxAttempts = 3
        settings.backoffBase = .milliseconds(1)
        settings.backoffCap = .milliseconds(5)
        settings.breaker = CircuitBreaker.Settings(failureThreshold: 3, probeInterval: .seconds(60))
        let http = HTTPEndpoint(name: "http://127.0.0.1:\(closed)", settings: settings)
        let url = try #require(URL(string: "http://127.0.0.1:\(closed)/v1/models"))
        await #expect(throws: BackendError.self) { _ = try await http.send("GET", url, what: "a probe") }

        let metrics = try await scrape(port: endpoint.port)
        #expect(metrics.value("optune_tasks_leased_total", ["queue": "scoring"]) == 3)
        #expect(metrics.value("optune_tasks_completed_total", ["queue": "scoring"]) == 2)
        #expect(metrics.value("optune_tasks_failed_total", ["queue": "scoring"]) == 1)
        #expect(metrics.value("optune_tasks_expired_total", ["queue": "scoring"]) == 0)
        #expect(metrics.value("optune_lease_duration_seconds_count", ["queue": "scoring"]) == 1)
        #expect(metrics.value("optune_run_iteration", ["run": "a \"quoted\" run"]) == 4)
        #expect(metrics.value("optune_iteration_state", ["run": "a \"quoted\" run", "state": "scoring"]) == 1)
        #expect(metrics.value("optune_iteration_state", ["run": "a \"quoted\" run", "state": "training"]) == 0)
        let name = "http://127.0.0.1:\(closed)"
        #expect(metrics.value("optune_backend_requests_total", ["endpoint": name, "outcome": "unreachable"]) == 3)
        #expect(metrics.value("optune_backend_retries_total", ["endpoint": name]) == 2)
        #expect(metrics.value("optune_backend_circuit_open", ["endpoint": name]) == 1)
        #expect(metrics.value("optune_backend_circuit_state", ["endpoint": name, "state": "open"]) == 1)
        #expect(metrics.value("optune_backend_circuit_state", ["endpoint": name, "state": "closed"]) == 0)

        // Anything but GET /metrics is 404.
        let other = try #require(URL(string: "http://127.0.0.1:\(endpoint.port)/"))
        let (_, response) = try await URLSession.shared.data(from: other)
        #expect((response as? HTTPURLResponse)?.statusCode == 404)
    }

    @Test func aPortOutOfRangeIsRefused() {
        #expect(throws: MetricsEndpointError.self) { _ = try MetricsEndpoint.start(port: 70_000) }
    }

    /// A port that was free a moment ago.
    func freePort() throws -> Int {
        let socket = try ListeningSocket()
        return socket.port
    }
}
