import HeraldCore
import HeraldKafka
import HeraldTestSupport
import Logging
import Prometheus
import Synchronization
import Testing

@Suite("kafka.topic_prefix: Herald's topics in a shared cluster's namespace", .timeLimit(.minutes(2)))
struct TopicPrefixTests {
    let logger = Logger(label: "test")

    @Test(
        "records go to the prefixed topic at the broker; Herald's code sees its own names in records, assignments and lag; another tenant's same-named topic is untouched"
    )
    func prefixed() async throws {
        let prefix = "tenant-\(uniqueName("p")).", name = "events"
        // The tenant's topic and another one of the same name outside the prefix.
        let broker = try TestBroker.start(partitions: 2, topics: [prefix + name, name])
        var producerConfig = KafkaProducerConfiguration(bootstrapServers: broker.bootstrapServers, clientId: "p")
        producerConfig.topicPrefix = prefix
        let producer = try KafkaProducer(configuration: producerConfig, logger: logger)
        let report = try await producer.send(topic: name, key: "k", value: Array("hello".utf8))
        #expect(report.topic == name)
        // At the broker it is under the prefix, and only there.
        let wire = try await readTopic(prefix + name, bootstrapServers: broker.bootstrapServers) { !$0.isEmpty }
        #expect(wire.map { String(decoding: $0.value, as: UTF8.self) } == ["hello"])
        let other = try await readTopic(name, bootstrapServers: broker.bootstrapServers, timeout: .seconds(2)) { _ in false }
        #expect(other.isEmpty, "the unprefixed topic of the same name got nothing")

        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: uniqueName("g"), clientId: "c", topics: [name])
        config.topicPrefix = prefix
        config.lagInterval = .milliseconds(50)
        config.sessionTimeout = .seconds(3)
        let registry = PrometheusCollectorRegistry()
        let seen = Mutex<[String]>([])
        let consumer = try KafkaConsumer(configuration: config, metrics: registry, worker: "w", logger: logger) { batch in
            seen.withLock { $0 += batch.map { "\($0.topic)/\(String(decoding: $0.value, as: UTF8.self))" } }
        }
        let assigned = Mutex<Set<String>>([])
        let metrics = Mutex("")
        try await runUntil(consumer) {
            assigned.withLock { $0.formUnion(consumer.assignment.map(\.topic)) }
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            metrics.withLock { $0 = String(decoding: bytes, as: UTF8.self) }
            // Read while it runs: shutdown drops the lag gauges of its partitions.
            return seen.withLock { $0 } == ["events/hello"] && metrics.withLock { $0.contains("herald_kafka_consumer_lag_records{") }
        }
        #expect(assigned.withLock { $0 } == [name], "assignments name the topic without the prefix")
        #expect(metrics.withLock { $0.contains(#"topic="events""#) && !$0.contains(prefix) }, "lag is labelled with the topic without the prefix")
        // Topic administration: the prefixed topics count as Herald's, the other is not looked at.
        try await KafkaAdmin.ensureTopics([name], partitions: 2, bootstrapServers: broker.bootstrapServers, topicPrefix: prefix, logger: logger)
        await producer.close()
    }
}
