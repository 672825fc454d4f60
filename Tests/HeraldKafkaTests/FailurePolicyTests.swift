import HeraldCore
import HeraldKafka
import HeraldTestSupport
import Logging
import Prometheus
import Synchronization
import Testing

/// A dependency outage, as Redis or the broker report one.
struct Outage: DependencyFailure { var isOutage: Bool { true } }

@Suite("The consumers' one failure policy, on the embedded broker", .timeLimit(.minutes(2)))
struct FailurePolicyTests {
    let logger = Logger(label: "test")

    @Test("a record that keeps failing goes to herald.dlq with its origin, reason and bytes; the rest of its partition goes on; an outage dead-letters nothing")
    func poisonAndOutage() async throws {
        let topic = uniqueName("policy")
        let broker = try TestBroker.start(partitions: 1, topics: [topic, Topics.dlq])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        // One partition: the poison record sits between good ones.
        let values = (0..<10).map { $0 == 4 ? "poison" : $0 == 7 ? "outage" : "ok-\($0)" }
        for v in values { _ = try await producer.send(topic: topic, key: "k", value: Array(v.utf8)) }
        let handled = Mutex<[String]>([])
        let poisonTries = Mutex(0), outageTries = Mutex(0)
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: uniqueName("g"), clientId: "c", topics: [topic])
        config.retryBackoff = .milliseconds(5)
        config.maxAttempts = 3
        let metrics = PrometheusCollectorRegistry()
        let dlq = DeadLetterQueue(producer: producer, metrics: metrics, worker: "test", logger: logger)
        let consumer = try KafkaConsumer(configuration: config, metrics: metrics, worker: "test", deadLetters: dlq, logger: logger) { batch in
            let texts = batch.map { String(decoding: $0.value, as: UTF8.self) }
            if texts.contains("poison") {
                poisonTries.withLock { $0 += 1 }
                throw TestFailure()
            }
            // Redis is out for the first 6 tries of this record: waited out, not an attempt.
            if texts.contains("outage"),
                outageTries.withLock({ t in
                    t += 1; return t <= 6
                })
            {
                throw Outage()
            }
            handled.withLock { $0.append(contentsOf: texts) }
        }
        try await runUntil(consumer) { Set(handled.withLock { $0 }).count == 9 }
        #expect(Set(handled.withLock { $0 }) == Set(values.filter { $0 != "poison" }))
        // The whole batch once, then the poison record alone up to max_attempts.
        #expect(poisonTries.withLock { $0 } == 1 + 3, "\(poisonTries.withLock { $0 })")
        let dead = try await readTopic(Topics.dlq, bootstrapServers: broker.bootstrapServers) { !$0.isEmpty }
        #expect(dead.count == 1 && dead[0].value == Array("poison".utf8), "\(dead)")
        func header(_ name: String) -> String? { dead.first?.header(name).map { String(decoding: $0, as: UTF8.self) } }
        #expect(header("herald.source.topic") == topic && header("herald.source.partition") == "0" && header("herald.source.offset") == "4")
        #expect(header("herald.error.reason")?.hasPrefix("failed 3 times") == true, "\(header("herald.error.reason") ?? "")")
        #expect(dead.first?.keyString == "k")
        var bytes: [UInt8] = []
        metrics.emit(into: &bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#"herald_dlq_records_total{worker="test",topic="\#(topic)",reason="failed"} 1"#), "\(text)")
        await producer.close()
    }
}
