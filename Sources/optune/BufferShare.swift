import Foundation
import Postgres

/// The buffer's share of each iteration of `optune run`: the CPU time of the run's database
/// connections (``ConnectionUsage``: the client's work in each call and, with the server on this
/// host, its backends'), by daemon, against the iteration's wall time since the previous one
/// ended. Decoding rows into Swift values after a call returns is not included; `optune bench
/// --sections iteration` times the same calls from the caller's side.
struct BufferShare {
    /// The daemons' connections, by the name each line shows.
    static let daemons = [
        ("generate", "optune-generate"), ("score", "optune-score"), ("coordinate", "optune-coordinate"), ("train", "optune-train"),
    ]

    private var previous = ConnectionUsage.usage()
    private var previousEnd = ContinuousClock.now

    /// "t=0  buffer CPU 1.92 s = 5.6% of 34.3 s (server 1.60, client 0.32): generate 0.71 · …",
    /// and starts the next iteration's count.
    mutating func line(t: Int) -> String {
        let now = ConnectionUsage.usage()
        let end = ContinuousClock.now
        defer { (previous, previousEnd) = (now, end) }
        let wall = (end - previousEnd).seconds
        var client = 0.0
        var server: Double? = 0
        var parts: [String] = []
        for (label, application) in Self.daemons {
            let was = previous[application] ?? ConnectionUsage.Usage()
            let usage = now[application] ?? ConnectionUsage.Usage()
            let spentClient = usage.client - was.client
            let spentServer = usage.server.flatMap { now in was.server.map { now - $0 } }
            client += spentClient
            server = server.flatMap { total in spentServer.map { total + $0 } }
            parts.append(String(format: "%@ %.2f", label, spentClient + (spentServer ?? 0)))
        }
        guard let server else {
            return String(
                format: "t=%d  buffer client CPU %.2f s = %.1f%% of %.1f s (the server is not on this host; its CPU is not seen)", t,
                client, wall > 0 ? 100 * client / wall : 0, wall)
        }
        let total = client + server
        return String(
            format: "t=%d  buffer CPU %.2f s = %.1f%% of %.1f s (server %.2f, client %.2f): %@", t, total,
            wall > 0 ? 100 * total / wall : 0, wall, server, client, parts.joined(separator: " · "))
    }
}
