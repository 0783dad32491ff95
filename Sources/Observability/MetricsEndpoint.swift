import Foundation
import Metrics
import Prometheus

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The `/metrics` endpoint of a daemon: bootstraps swift-metrics with the Prometheus backend
/// and answers `GET /metrics` with the text exposition format (version 0.0.4) on a small
/// blocking socket listener of its own thread. Anything else gets 404; one request per
/// connection. Off unless a command is given `--metrics-port`.
public final class MetricsEndpoint: Sendable {
    /// The port the listener is bound to (the one asked for, or the kernel's pick for 0).
    public let port: Int
    /// The registry the endpoint serves.
    public let registry: PrometheusCollectorRegistry
    private let socket: Int32

    /// Bootstraps the metrics system (once per process) and starts serving on `port` of every
    /// interface (0: any free port). Throws ``MetricsEndpointError`` when the port cannot be bound.
    public static func start(port: Int) throws -> MetricsEndpoint {
        let registry = PrometheusCollectorRegistry()
        let endpoint = try MetricsEndpoint(port: port, registry: registry)
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let thread = Thread { endpoint.serve() }
        thread.name = "optune-metrics"
        thread.start()
        return endpoint
    }

    private init(port requested: Int, registry: PrometheusCollectorRegistry) throws {
        guard (0...65_535).contains(requested) else {
            throw MetricsEndpointError(message: "--metrics-port must be in 0…65535, got \(requested)")
        }
        #if canImport(Glibc)
            let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = Darwin.socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw MetricsEndpointError(message: "cannot open a socket for metrics: \(Self.lastError())") }
        var yes: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(requested).bigEndian)
        address.sin_addr = in_addr(s_addr: INADDR_ANY)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let message = Self.lastError()
            close(fd)
            throw MetricsEndpointError(message: "cannot serve metrics on port \(requested): \(message)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.registry = registry
        self.socket = fd
    }

    /// Accepts connections until the process ends.
    private func serve() {
        while true {
            let client = accept(socket, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            answer(client)
            close(client)
        }
    }

    /// Reads one request head (at most 8 KiB, 5 s) and answers it.
    private func answer(_ client: Int32) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var head: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2048)
        while head.count < 8192 {
            let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            head += chunk[0..<count]
            if head.count >= 4, head.suffix(from: max(0, head.count - count - 3)).containsTerminator { break }
        }
        let requestLine = String(decoding: head.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self).split(separator: " ")
        let path = requestLine.count >= 2 ? requestLine[1].split(separator: "?").first.map(String.init) ?? "" : ""
        let response: [UInt8]
        if requestLine.first == "GET", path == "/metrics" {
            response = Self.response(
                status: "200 OK", contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
        } else {
            response = Self.response(
                status: "404 Not Found", contentType: "text/plain; charset=utf-8", body: Array("only GET /metrics is served\n".utf8))
        }
        var sent = 0
        while sent < response.count {
            let count = response[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, noSignal) }
            if count <= 0 { break }
            sent += count
        }
    }

    private static func response(status: String, contentType: String, body: [UInt8]) -> [UInt8] {
        Array("HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8)
            + body
    }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}

/// The metrics endpoint could not start.
public struct MetricsEndpointError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

#if canImport(Glibc)
    /// Send flags that keep a closed peer from raising SIGPIPE.
    private let noSignal = Int32(MSG_NOSIGNAL)
#else
    private let noSignal: Int32 = 0
#endif

extension ArraySlice<UInt8> {
    /// Whether the bytes hold the blank line that ends an HTTP request head.
    fileprivate var containsTerminator: Bool {
        let bytes = Array(self)
        guard bytes.count >= 4 else { return false }
        for index in 0...(bytes.count - 4)
        where bytes[index] == 0x0D && bytes[index + 1] == 0x0A && bytes[index + 2] == 0x0D && bytes[index + 3] == 0x0A {
            return true
        }
        return false
    }
}
