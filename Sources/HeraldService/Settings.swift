import HeraldKafka
import HeraldRedis
import Logging

/// The typed view of `Configuration`, checked once at start-up.
public struct Settings: Sendable {
    public var kafkaBootstrapServers: String
    public var partitions: Int
    public var replicationFactor: Int
    public var createTopics: Bool
    public var sessionTimeout: Duration
    public var messageTimeout: Duration
    public var redis: RedisConfiguration
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    public var metricsHost: String
    public var metricsPorts: [Worker: Int]
    public var apiHost: String
    public var apiPort: Int
    public var apiKeys: Set<String>
    public var adminKeys: Set<String>
    public var maxBodyBytes: Int
    public var maxBatchEvents: Int
    public var dedupeWindow: Duration
    public var rawBatchSize: Int
    public var schedulerPollInterval: Duration
    public var sweepInterval: Duration
    public var testWait: Duration
    public var shutdownTimeout: Duration
}

/// Log line format.
public enum LogFormat: String, Sendable {
    case text, json
}

/// The four worker kinds.
public enum Worker: String, Sendable, CaseIterable {
    case ingestor, scheduler, sender, alerter

    /// The executable's name: `herald-ingestor`.
    public var executable: String { "herald-\(rawValue)" }
    /// The consumer group of this worker kind.
    public var consumerGroup: String { "herald-\(rawValue)" }
}

extension Configuration {
    /// The typed settings.
    /// - Throws: `ConfigurationError` naming the key and its bad value.
    public func settings() throws -> Settings {
        var redis = RedisConfiguration(host: string("redis.host"), port: try int("redis.port", in: 1...65535))
        redis.poolSize = try int("redis.pool_size", in: 1...1024)
        redis.connectTimeout = try duration("redis.connect_timeout")
        redis.commandTimeout = try duration("redis.command_timeout")
        guard let level = Logger.Level(rawValue: string("log.level").lowercased()) else {
            throw bad("log.level", "expected one of trace, debug, info, notice, warning, error, critical")
        }
        guard let format = LogFormat(rawValue: string("log.format").lowercased()) else {
            throw bad("log.format", "expected text or json")
        }
        guard !string("kafka.bootstrap_servers").isEmpty else { throw bad("kafka.bootstrap_servers", "must not be empty") }
        var ports: [Worker: Int] = [:]
        for w in Worker.allCases { ports[w] = try int("\(w.rawValue).metrics_port", in: 0...65535) }
        return Settings(
            kafkaBootstrapServers: string("kafka.bootstrap_servers"),
            partitions: try int("kafka.partitions", in: 1...10_000),
            replicationFactor: try int("kafka.replication_factor", in: 1...16),
            createTopics: try bool("kafka.create_topics"),
            sessionTimeout: try duration("kafka.session_timeout"),
            messageTimeout: try duration("kafka.message_timeout"),
            redis: redis,
            logLevel: level,
            logFormat: format,
            metricsHost: string("metrics.host"),
            metricsPorts: ports,
            apiHost: string("api.host"),
            apiPort: try int("api.port", in: 0...65535),
            apiKeys: Set(list("api.keys")),
            adminKeys: Set(list("api.admin_keys")),
            maxBodyBytes: try int("api.max_body_bytes", in: 1024...(1 << 30)),
            maxBatchEvents: try int("api.max_batch_events", in: 1...100_000),
            dedupeWindow: try duration("ingest.dedupe_window"),
            rawBatchSize: try int("ingest.raw_batch_size", in: 1...100_000),
            schedulerPollInterval: try duration("scheduler.poll_interval"),
            sweepInterval: try duration("scheduler.sweep_interval"),
            testWait: try duration("scheduler.test_wait"),
            shutdownTimeout: try duration("shutdown.timeout"))
    }
}
