import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import Prometheus
import ServiceLifecycle

/// What every Herald worker process shares: settings, logger, metrics registry,
/// Redis pool, Kafka producer and the health port, run in one `ServiceGroup`.
public struct WorkerRuntime: Sendable {
    /// Which worker this process is.
    public let worker: Worker
    /// The checked configuration.
    public let settings: Settings
    /// The process's logger (`log.level`, `log.format`).
    public let logger: Logger
    /// The registry `/metrics` exports.
    public let metrics: PrometheusCollectorRegistry
    /// The process's Redis connections.
    public let redis: RedisPool
    /// The process's one Kafka producer.
    public let producer: KafkaProducer
    /// Where this worker's consumers put records that cannot be processed.
    public let deadLetters: DeadLetterQueue
    /// Unique per process: `herald-ingestor-<host>-<pid>`.
    public let clientId: String
    /// The loops `/healthz` watches: a consumer's poll loop, a poller's passes.
    public let heartbeats = Heartbeats()

    /// Builds the shared parts; connects lazily.
    /// - Throws: `KafkaError` for a refused Kafka property.
    public init(worker: Worker, settings: Settings, logger: Logger, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) throws {
        self.worker = worker
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.clientId = "\(worker.executable)-\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
        let redisLatency = metrics.makeDurationHistogram(
            descriptor: .init(metricName: "herald_redis_round_trip", unitName: "seconds", helpText: "One pipeline to Redis and its replies"),
            labels: [("worker", worker.rawValue)],
            buckets: [.microseconds(250), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2)])
        let redisError = CounterFamily(
            metrics, name: "herald_redis_errors", unit: "total",
            help: "Redis round trips that failed (connection, timeout, unavailable) and error replies (server)", fixed: [("worker", worker.rawValue)],
            labels: ["kind"])
        self.redis = RedisPool(configuration: settings.redis, logger: logger) { duration, failure, errorReplies in
            redisLatency.record(duration)
            if let failure { redisError(failure.rawValue).increment() }
            if errorReplies > 0 { redisError(RedisError.Code.server.rawValue).increment(by: Int64(errorReplies)) }
        }
        var producerConfig = KafkaProducerConfiguration(bootstrapServers: settings.kafkaBootstrapServers, clientId: clientId)
        producerConfig.messageTimeout = settings.messageTimeout
        producerConfig.topicPrefix = settings.kafkaTopicPrefix
        producerConfig.extraProperties = settings.kafkaClientProperties.merging(["compression.codec": settings.kafkaCompression]) { own, _ in own }
        let deliveryFailures = CounterFamily(
            metrics, name: "herald_kafka_delivery_failures", unit: "total",
            help: "Records the broker did not acknowledge (timed out, refused, or the producer was closing)", fixed: [("worker", worker.rawValue)],
            labels: ["topic"])
        self.producer = try KafkaProducer(configuration: producerConfig, logger: logger) { topic, _ in deliveryFailures(topic).increment() }
        self.deadLetters = DeadLetterQueue(producer: producer, metrics: metrics, worker: worker.rawValue, logger: logger)
        // 1, labelled with what runs: dashboards join on it, and a fleet mid-upgrade shows two versions.
        metrics.makeGauge(
            descriptor: .init(metricName: "herald_build", unitName: "info", helpText: "Always 1; the labels say which Herald version this worker runs"),
            labels: [("worker", worker.rawValue), ("version", HeraldVersion.current)]
        ).set(Int64(1))
    }

    /// A consumer in this worker's group, configured from the settings.
    /// - Parameter group: the consumer group; the worker's own (`herald-ingestor`) by default.
    public func consumer(
        topics: [String], group: String? = nil, maxBatchSize: Int = 500, batchesInFlight: Int = 1, handler: @escaping KafkaConsumer.Handler
    ) throws -> KafkaConsumer {
        var config = KafkaConsumerConfiguration(
            // The prefix names the groups too: two fleets sharing a cluster must not join each other's groups.
            bootstrapServers: settings.kafkaBootstrapServers, groupId: settings.kafkaTopicPrefix + (group ?? worker.consumerGroup), clientId: clientId,
            topics: topics)
        config.sessionTimeout = settings.sessionTimeout
        config.fetchWaitMax = settings.fetchWaitMax
        config.maxBatchSize = maxBatchSize
        config.batchesInFlight = batchesInFlight
        config.maxAttempts = settings.kafkaMaxAttempts
        config.extraProperties = settings.kafkaClientProperties
        config.topicPrefix = settings.kafkaTopicPrefix
        return try KafkaConsumer(
            configuration: config, metrics: metrics, worker: worker.rawValue, deadLetters: deadLetters, logger: logger,
            heartbeat: heartbeats.make("consumer \(topics.joined(separator: ","))"), handler: handler)
    }

    /// Readiness: Kafka answers metadata and Redis answers PING.
    public var readinessChecks: [ReadinessCheck] {
        [
            ReadinessCheck(name: "kafka") { [producer] in await producer.isReachable(timeout: .seconds(1)) },
            ReadinessCheck(name: "redis") { [redis] in await redis.ping() },
        ]
    }

    /// Creates Herald's topics with N partitions if `kafka.create_topics` (idempotent).
    public func ensureTopics() async throws {
        guard settings.createTopics else { return }
        try await KafkaAdmin.ensureTopics(
            Topics.all, partitions: settings.partitions, replicationFactor: settings.replicationFactor,
            bootstrapServers: settings.kafkaBootstrapServers, clientProperties: settings.kafkaClientProperties, topicPrefix: settings.kafkaTopicPrefix,
            logger: logger)
    }

    /// Refuses an evicting Redis and warns of one without AOF (`RedisDurability`).
    /// Waits up to 60 s for Redis to answer: a worker that cannot check does not start.
    /// - Throws: `RedisDurabilityError` with the reason.
    public func requireDurableRedis() async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var found: RedisDurability?
        while found == nil {
            do {
                found = try await RedisDurability.read(from: redis)
            } catch {
                guard ContinuousClock.now < deadline else { throw RedisDurabilityError(reason: "Redis did not answer within 60 s at start: \(error)") }
                logger.warning("waiting for Redis to check its persistence and eviction settings", metadata: ["redis.error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
        guard let durability = found else { return }
        if let refusal = durability.refusal { throw RedisDurabilityError(reason: refusal) }
        for warning in durability.warnings(devMode: settings.devMode) { logger.warning("\(warning)") }
    }

    /// Runs `[health port, redis, producer] + services` until SIGTERM/SIGINT, then
    /// shuts down in reverse order within `shutdown.timeout`: the workers stop
    /// taking work and finish what is in flight, the producer flushes, Redis closes,
    /// and the health port answers to the end.
    public func run(services: [any Service]) async throws {
        let health = HealthServer.make(
            host: settings.metricsHost, port: settings.metricsPorts[worker] ?? 0, registry: metrics,
            checks: readinessChecks, liveness: Liveness(heartbeats: heartbeats, stallAfter: settings.stallAfter), logger: logger)
        var config = ServiceGroupConfiguration(
            services: [.init(service: health), .init(service: redis), .init(service: producer)] + services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        config.maximumGracefulShutdownDuration = settings.shutdownTimeout
        config.maximumCancellationDuration = Duration.seconds(5)
        logger.info(
            "\(worker.executable) starting",
            metadata: ["herald.metrics_port": "\(settings.metricsPorts[worker] ?? 0)", "kafka.bootstrap": "\(settings.kafkaBootstrapServers)"])
        try await ServiceGroup(configuration: config).run()
        logger.info("\(worker.executable) stopped")
    }
}

/// Why a worker will not run on this Redis.
public struct RedisDurabilityError: Error, CustomStringConvertible {
    /// What is wrong with Redis's persistence settings.
    public let reason: String
    /// The reason.
    public var description: String { reason }
}
