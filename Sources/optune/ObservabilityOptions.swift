import ArgumentParser
import Logging
import Observability

/// `--metrics-port` and `--log-format`, taken by every daemon and `optune run`.
struct ObservabilityOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://HOST:PORT/metrics (off by default; 0 picks a free port, logged at start).",
            valueName: "port"))
    var metricsPort: Int?

    @Option(help: "Log lines as text, or as JSON lines (timestamp, level, label, message, metadata) for log collectors.")
    var logFormat: LogFormat = .text

    func validate() throws {
        if let metricsPort, !(0...65_535).contains(metricsPort) {
            throw ValidationError("--metrics-port must be in 0…65535, got \(metricsPort)")
        }
    }

    /// Sets up logging at `level` and, if asked, starts the metrics endpoint (noting its port).
    func start(logLevel level: Logger.Level) throws {
        bootstrapLogging(level: level, format: logFormat)
        guard let metricsPort else { return }
        do {
            let endpoint = try MetricsEndpoint.start(port: metricsPort)
            let message = "serving metrics on port \(endpoint.port) (GET /metrics)"
            switch logFormat {
            case .text: note(message)
            case .json: Logger(label: "optune.metrics").notice("\(message)", metadata: ["port": "\(endpoint.port)"])
            }
        } catch let error as MetricsEndpointError {
            throw CLIError(error.message, hint: "pick another --metrics-port (0 lets the system choose)")
        }
    }
}
