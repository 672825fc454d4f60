// swift-tools-version:6.1
import PackageDescription

let swift6: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "Herald",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "herald-ingestor", targets: ["herald-ingestor"]),
        .executable(name: "herald-scheduler", targets: ["herald-scheduler"]),
        .executable(name: "herald-sender", targets: ["herald-sender"]),
        .executable(name: "herald-alerter", targets: ["herald-alerter"]),
        .executable(name: "heraldctl", targets: ["heraldctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Already pulled in by Hummingbird; named so targets that use ByteBuffer may import NIOCore.
        .package(url: "https://github.com/apple/swift-nio", from: "2.0.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        // CSV imports (quoted fields with line breaks, delimiters, BOM), rather than a parser of our own.
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
    ],
    targets: [
        // MARK: - C system libraries (Debian: librdkafka-dev, libhiredis-dev, libcurl4-openssl-dev)
        .systemLibrary(name: "CRdKafka"),
        .systemLibrary(name: "CHiredis"),
        .systemLibrary(name: "CCurl"),

        // MARK: - Build tools: Lua scripts live in .lua files and are embedded at build time
        .executableTarget(name: "herald-embed-lua", swiftSettings: swift6),
        .plugin(name: "EmbedLua", capability: .buildTool(), dependencies: ["herald-embed-lua"]),

        // MARK: - Libraries
        .target(
            name: "HeraldCore",
            dependencies: [
                .product(name: "Yams", package: "Yams"), .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swift6
        ),
        .target(
            name: "HeraldKafka",
            dependencies: [
                "CRdKafka", "HeraldCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6
        ),
        .target(
            name: "HeraldRedis",
            dependencies: [
                "CHiredis", "HeraldCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swift6,
            plugins: ["EmbedLua"]
        ),
        .target(
            name: "HeraldChannels",
            dependencies: [
                "CCurl", "HeraldCore", "HeraldRedis",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: swift6
        ),
        .target(
            name: "HeraldService",
            dependencies: [
                "HeraldCore", "HeraldKafka", "HeraldRedis",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swift6
        ),
        .target(
            name: "HeraldIngest",
            dependencies: [
                "HeraldCore", "HeraldKafka", "HeraldRedis", "HeraldService",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "CSV", package: "CSV.swift"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
                // The errors of Hummingbird's FileIO, which spools CSV uploads (CSVUpload).
                .product(name: "_NIOFileSystem", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6,
            plugins: ["EmbedLua"]
        ),
        .target(
            name: "HeraldScheduler",
            dependencies: [
                "HeraldCore", "HeraldKafka", "HeraldRedis", "HeraldService", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6
        ),
        .target(
            name: "HeraldSender",
            dependencies: [
                "HeraldCore", "HeraldKafka", "HeraldRedis", "HeraldService", "HeraldChannels",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6
        ),
        .target(
            name: "HeraldAlerter",
            dependencies: [
                "HeraldCore", "HeraldKafka", "HeraldRedis", "HeraldService",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
            ],
            swiftSettings: swift6
        ),
        // Development tools: the dev stack, benchmarks, the sandbox provider, child
        // processes and free ports. heraldctl and the tests use it; no worker links it.
        .target(
            name: "HeraldDevTools",
            dependencies: [
                "HeraldCore", "HeraldKafka", "HeraldRedis", "HeraldChannels", "HeraldService",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6
        ),
        .target(
            name: "HeraldTestSupport",
            dependencies: [
                "HeraldCore", "HeraldKafka", "HeraldRedis", "HeraldChannels", "HeraldService", "HeraldDevTools",
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"), .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swift6
        ),

        // MARK: - Executables (thin: read config, build services, run a ServiceGroup)
        .executableTarget(name: "herald-ingestor", dependencies: ["HeraldIngest", "HeraldService"], swiftSettings: swift6),
        .executableTarget(name: "herald-scheduler", dependencies: ["HeraldScheduler", "HeraldService"], swiftSettings: swift6),
        .executableTarget(name: "herald-sender", dependencies: ["HeraldCore", "HeraldSender", "HeraldService"], swiftSettings: swift6),
        .executableTarget(name: "herald-alerter", dependencies: ["HeraldAlerter", "HeraldService"], swiftSettings: swift6),
        .executableTarget(
            name: "heraldctl",
            dependencies: [
                "HeraldCore", "HeraldKafka", "HeraldRedis", "HeraldService", "HeraldChannels", "HeraldDevTools",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6
        ),

        // MARK: - Tests
        .testTarget(name: "HeraldCoreTests", dependencies: ["HeraldCore"], swiftSettings: swift6),
        .testTarget(
            name: "HeraldKafkaTests",
            dependencies: [
                "HeraldCore", "HeraldKafka", "HeraldService", "HeraldTestSupport", "HeraldDevTools", .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6
        ),
        .testTarget(
            name: "HeraldRedisTests",
            dependencies: ["HeraldCore", "HeraldRedis", "HeraldTestSupport", "HeraldDevTools", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swift6),
        .testTarget(name: "HeraldServiceTests", dependencies: ["HeraldService", "HeraldIngest", "HeraldTestSupport"], swiftSettings: swift6),
        .testTarget(name: "HeraldAlerterTests", dependencies: ["HeraldAlerter", "HeraldCore"], swiftSettings: swift6),
        .testTarget(name: "HeraldSenderTests", dependencies: ["HeraldSender", "HeraldCore", "HeraldChannels"], swiftSettings: swift6),
        .testTarget(
            name: "HeraldIngestTests",
            dependencies: [
                "HeraldIngest", "HeraldKafka", "HeraldCore", "HeraldRedis", "HeraldService", "HeraldTestSupport",
                .product(name: "Logging", package: "swift-log"), .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swift6),
        .testTarget(name: "HeraldSchedulerTests", dependencies: ["HeraldScheduler", "HeraldRedis", "HeraldCore"], swiftSettings: swift6),
        .testTarget(name: "HeraldChannelsTests", dependencies: ["HeraldChannels", "HeraldCore", "HeraldRedis"], swiftSettings: swift6),
        .testTarget(name: "HeraldctlTests", dependencies: ["heraldctl", "HeraldChannels", "HeraldCore"], swiftSettings: swift6),
        .testTarget(name: "HeraldDevToolsTests", dependencies: ["HeraldDevTools", "HeraldChannels", "HeraldCore"], swiftSettings: swift6),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "HeraldKafka", "HeraldRedis", "HeraldTestSupport", "HeraldDevTools", "HeraldChannels", "HeraldCore", "HeraldService",
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["silent-listener.py", "lost-reply-proxy.py"],
            swiftSettings: swift6
        ),
    ]
)
