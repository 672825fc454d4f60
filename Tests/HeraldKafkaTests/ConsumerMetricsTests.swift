import HeraldKafka
import HeraldTestSupport
import Logging
import Prometheus
import Synchronization
import Testing

@Suite("Consumer lag and lost offsets", .timeLimit(.minutes(3)))
struct ConsumerMetricsTests {
    let logger = Logger(label: "test")

    func value(of metric: String, in registry: PrometheusCollectorRegistry) -> Double? {
        registry.emitToString().split(separator: "\n")
            .first { $0.hasPrefix(metric) }
            .flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test("lag is exported per partition and falls to zero once caught up")
    func lag() async throws {
        let broker = try TestBroker.start(partitions: 1, topics: ["lag"])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        for i in 0..<60 { _ = try await producer.send(topic: "lag", key: "k", value: Array("\(i)".utf8)) }
        let registry = PrometheusCollectorRegistry()
        let seen = Mutex(0)
        let maxLag = Mutex(0.0)
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: uniqueName("lag"), clientId: "c", topics: ["lag"])
        config.maxBatchSize = 1
        config.lagInterval = .milliseconds(50)
        config.sessionTimeout = .seconds(3)
        let gauge = #"herald_kafka_consumer_lag_records{worker="w",group="#
        let consumer = try KafkaConsumer(configuration: config, metrics: registry, worker: "w", logger: logger) { batch in
            try await Task.sleep(for: .milliseconds(20))
            seen.withLock { $0 += batch.count }
        }
        try await runUntil(consumer, timeout: .seconds(60)) {
            if let v = self.value(of: gauge, in: registry) { maxLag.withLock { $0 = max($0, v) } }
            return seen.withLock { $0 } == 60 && self.value(of: gauge, in: registry) == 0
        }
        #expect(maxLag.withLock { $0 } >= 20, "lag never showed the backlog")
        await producer.close()
    }

    @Test("lag counts from the group's committed offset: records handled but not yet committed are still lag")
    func lagFromCommitted() async throws {
        let broker = try TestBroker.start(partitions: 1, topics: ["lagc"])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        for i in 0..<60 { _ = try await producer.send(topic: "lagc", key: "k", value: Array("\(i)".utf8)) }
        let registry = PrometheusCollectorRegistry()
        let seen = Mutex(0)
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: uniqueName("lagc"), clientId: "c", topics: ["lagc"])
        config.lagInterval = .milliseconds(50)
        config.sessionTimeout = .seconds(3)
        // Nothing is committed during the test: every record is fetched and handled, none committed.
        config.extraProperties["auto.commit.interval.ms"] = "600000"
        let gauge = #"herald_kafka_consumer_lag_records{worker="w",group="#
        let consumer = try KafkaConsumer(configuration: config, metrics: registry, worker: "w", logger: logger) { batch in
            seen.withLock { $0 += batch.count }
        }
        let handledAt = Mutex<ContinuousClock.Instant?>(nil)
        let lag = Mutex<Double?>(nil)
        try await runUntil(consumer, timeout: .seconds(60)) {
            if seen.withLock({ $0 }) == 60, handledAt.withLock({ $0 }) == nil { handledAt.withLock { $0 = .now } }
            // A second of lag updates after the last record was handled (read before shutdown drops the gauge).
            guard handledAt.withLock({ $0.map { ContinuousClock.now - $0 > .seconds(1) } ?? false }) else { return false }
            lag.withLock { $0 = self.value(of: gauge, in: registry) }
            return true
        }
        // The fetch position is 60 (lag 0 by it); the committed offset is still 0.
        #expect(lag.withLock { $0 } == 60)
        await producer.close()
    }

    @Test("a committed offset deleted by retention is counted and logged, not skipped silently")
    func offsetOutOfRange() async throws {
        let broker = try TestBroker.start(partitions: 1, topics: ["oor"])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        _ = try await producer.send(topic: "oor", key: "k", value: Array("first".utf8))
        let group = uniqueName("oor")
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: group, clientId: "c", topics: ["oor"])
        config.sessionTimeout = .seconds(3)
        let first = Mutex(0)
        let c1 = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "w", logger: logger) { batch in
            first.withLock { $0 += batch.count }
        }
        try await runUntil(c1) { first.withLock { $0 } == 1 }

        // Push the committed offset out of the mock broker's retention (5 MB per partition).
        let big = [UInt8](repeating: 0x61, count: 200_000)
        for _ in 0..<40 { _ = try await producer.send(topic: "oor", key: "k", value: big) }
        _ = try await producer.send(topic: "oor", key: "k", value: Array("last".utf8))

        let registry = PrometheusCollectorRegistry()
        let values = Mutex<[String]>([])
        let c2 = try KafkaConsumer(configuration: config, metrics: registry, worker: "w", logger: logger) { batch in
            values.withLock { $0.append(contentsOf: batch.map { $0.value.count < 100 ? String(decoding: $0.value, as: UTF8.self) : "big" }) }
        }
        try await runUntil(c2, timeout: .seconds(60)) { values.withLock { $0.contains("last") } }
        #expect(value(of: #"herald_kafka_offset_out_of_range_total{worker="w""#, in: registry) == 1)
        // It resumed at the earliest retained record: fewer than all 40 big ones were still there.
        #expect(values.withLock { $0.filter { $0 == "big" }.count } < 40)
        await producer.close()
    }
}
