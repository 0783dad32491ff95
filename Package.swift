// swift-tools-version: 6.1
import PackageDescription

/// Module boundaries follow ../shared/DESIGN.md §6: the CLI only parses and wires, SQL stays in
/// Buffer (and Migrations), the codec and the model know nothing of PostgreSQL.
let package = Package(
    name: "optune",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "optune", targets: ["optune"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "TokenCodec", targets: ["TokenCodec"]),
        .library(name: "Buffer", targets: ["Buffer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // System libraries (Debian: libpq-dev, liblz4-dev, libopenblas-dev).
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        /// `setvbuf` on the C standard streams (line-buffered output under pipes and log files).
        .systemLibrary(name: "CStdio"),

        /// A thin, safe Swift face over libpq.
        .target(name: "Postgres", dependencies: ["CLibPQ"]),
        /// Token blob format v1 (DESIGN §5).
        .target(name: "TokenCodec", dependencies: ["CLZ4"]),
        /// The schema as ordered SQL files, shipped as resources.
        .target(name: "Migrations", path: "Migrations", exclude: ["checksums.sha256"], resources: [.copy("sql")]),
        /// The built-in policy (a small MLP over OpenBLAS), its synthetic task family and reward,
        /// SFT and DPO/wDPO training. Knows nothing of PostgreSQL.
        .target(name: "Policy", dependencies: ["CBLAS"]),
        /// The private PostgreSQL cluster of the embedded default (DESIGN §7).
        .target(name: "LocalCluster", dependencies: [.product(name: "Logging", package: "swift-log")]),
        /// The hub's Swift API: all SQL lives here or in Migrations/.
        .target(
            name: "Buffer",
            dependencies: [
                "Postgres", "TokenCodec", "Migrations", "CZlib",
                .product(name: "Logging", package: "swift-log"),
            ]),
        /// OPTune / random / full selection and pair building, as SQL run inside the database.
        .target(name: "Selection", dependencies: ["Buffer", "Postgres"]),
        /// Metric names and recording helpers (swift-metrics), the Prometheus backend and the
        /// `/metrics` listener every daemon can serve.
        .target(
            name: "Observability",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        /// Generation and reward backends behind protocols; the built-in ones run the Policy module.
        .target(name: "Backends", dependencies: ["Observability", "Policy", "TokenCodec"]),
        /// Generator, scorer, trainer and coordinator as services with graceful shutdown.
        .target(
            name: "Daemons",
            dependencies: [
                "Backends", "Buffer", "Export", "Observability", "Policy", "Postgres", "Selection", "TokenCodec",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        /// The paper's comparison in miniature: a grid of forked runs and paired statistics.
        .target(
            name: "Experiments",
            dependencies: [
                "Buffer", "Daemons", "Policy", "Postgres", "Selection",
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        /// `optune report`: a self-contained HTML page with SVG plots.
        .target(name: "Report", dependencies: ["Buffer"]),
        /// Training-set export (TRL, OpenRLHF, token ids): line formats, gzip and sha256 sinks.
        .target(
            name: "Export", dependencies: ["Buffer", "CZlib", "Postgres", .product(name: "Crypto", package: "swift-crypto")]),
        /// `optune bench`: measurements against named baselines, printed as a table.
        .target(name: "Benchmarks", dependencies: ["Buffer", "Daemons", "Export", "Postgres", "Selection", "TokenCodec"]),
        .executableTarget(
            name: "optune",
            dependencies: [
                "Backends", "Benchmarks", "Buffer", "CStdio", "Daemons", "Experiments", "Export", "Migrations", "Observability", "Report",
                "LocalCluster", "Policy", "Postgres", "TokenCodec",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        /// Shared by the integration tests: one isolated database per test.
        .target(name: "TestSupport", dependencies: ["Postgres", "Buffer"], path: "Tests/TestSupport"),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "PolicyTests", dependencies: ["Policy"]),
        .testTarget(name: "BackendsTests", dependencies: ["Backends", "Buffer", "Daemons", "Postgres", "TestSupport"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Backends", "Observability", "Buffer", "Postgres", "TestSupport"]),
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Buffer", "Selection", "TestSupport"]),
        .testTarget(name: "ExportTests", dependencies: ["Export", "Buffer", "Postgres", "Selection", "TestSupport"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Buffer", "TestSupport"]),
        .testTarget(
            name: "DaemonsTests",
            dependencies: ["Backends", "Buffer", "Daemons", "LocalCluster", "Policy", "Postgres", "Selection", "TestSupport"]),
        .testTarget(name: "SelectionTests", dependencies: ["Selection", "Buffer", "Postgres", "TestSupport"]),
        .testTarget(name: "TokenCodecTests", dependencies: ["TokenCodec"], resources: [.copy("Vectors")]),
        .testTarget(name: "BufferTests", dependencies: ["Buffer", "Postgres", "TestSupport", "TokenCodec"]),
        .testTarget(name: "LocalClusterTests", dependencies: ["LocalCluster", "Postgres", "Buffer"]),
    ]
)
