import HeraldCore
import HeraldKafka
import HeraldTestSupport
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization
import Testing

@Suite("Kafka on the embedded broker", .timeLimit(.minutes(2)))
struct ProducerConsumerTests {
    let logger = Logger(label: "test")

    @Test("Shard.of equals the partition librdkafka's murmur2_random picks")
    func shardMatchesPartitioner() async throws {
        let broker = try TestBroker.start(partitions: 24, topics: ["shard-check"])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "t"), logger: logger)
        var checked = 0
        for i in 0..<300 {
            let key = i % 3 == 0 ? "contact-\(i)" : "c\(i)-ünï-\(String(repeating: "x", count: i % 7))"
            let report = try await producer.send(topic: "shard-check", key: key, value: Array("v".utf8))
            #expect(report.partition == Shard.of(key, partitions: 24), "key \(key)")
            checked += 1
        }
        #expect(checked == 300)
        await producer.close()
    }

    @Test("a record the producer cannot deliver is reported to its failure hook, by topic; delivered ones are not")
    func deliveryFailures() async throws {
        let broker = try TestBroker.start(partitions: 1, topics: ["ok"])
        let failed = Mutex<[String]>([])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "f"), logger: logger) { topic, _ in
            failed.withLock { $0.append(topic) }
        }
        _ = try await producer.send(topic: "ok", key: "k", value: Array("v".utf8))
        #expect(failed.withLock { $0 }.isEmpty)
        // Past the broker's largest message: refused by librdkafka before it is sent.
        let huge = [UInt8](repeating: 1, count: 2_000_000)
        await #expect(throws: KafkaError.self) { try await producer.send(topic: "ok", key: "k", value: huge) }
        let batch = await producer.send([KafkaOutgoingRecord(topic: "ok", key: "k", value: huge), KafkaOutgoingRecord(topic: "ok", key: "k", value: [1])])
        #expect((try? batch[1].get()) != nil)
        #expect(failed.withLock { $0 } == ["ok", "ok"])
        await producer.close()
    }

    @Test("a batch send reports each record's partition and offset at its index")
    func batchSend() async throws {
        let broker = try TestBroker.start(partitions: 8, topics: ["batch"])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "b"), logger: logger)
        let keys = (0..<500).map { "contact-\($0)" }
        let reports = await producer.send(keys.map { KafkaOutgoingRecord(topic: "batch", key: $0, value: Array($0.utf8)) })
        #expect(reports.count == 500)
        var offsets: [Int: [Int64]] = [:]
        for (key, report) in zip(keys, reports) {
            let r = try report.get()
            #expect(r.partition == Shard.of(key, partitions: 8))
            offsets[r.partition, default: []].append(r.offset)
        }
        // Within a partition, records keep their order.
        for (_, list) in offsets { #expect(list == list.sorted() && Set(list).count == list.count) }
        // After close, each record fails with a named error instead of hanging.
        await producer.close()
        let failed = await producer.send([KafkaOutgoingRecord(topic: "batch", key: "k", value: [1])])
        #expect(throws: KafkaError.shuttingDown) { try failed[0].get() }
    }

    @Test("a produced record is consumed and its offset committed only after the handler returned")
    func roundTripAndCommit() async throws {
        let broker = try TestBroker.start(partitions: 3, topics: ["rt"])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        for i in 0..<30 {
            _ = try await producer.send(topic: "rt", key: "k\(i)", value: Array("value-\(i)".utf8), headers: [KafkaHeader(name: "h", string: "\(i)")])
        }
        let group = uniqueName("g")
        let seen = Mutex<[String]>([])
        let failedOnce = Mutex(false)
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: group, clientId: "c1", topics: ["rt"])
        config.sessionTimeout = .seconds(3)
        config.retryBackoff = .milliseconds(10)
        let consumer = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger) { batch in
            // The first batch fails once: it must come again, not be skipped.
            if failedOnce.withLock({ f in
                defer { f = true }; return !f
            }) {
                throw TestFailure()
            }
            seen.withLock { s in s.append(contentsOf: batch.map { String(decoding: $0.value, as: UTF8.self) }) }
            #expect(batch.allSatisfy { $0.header("h") != nil })
        }
        try await runUntil(consumer) { seen.withLock { Set($0).count } == 30 }
        #expect(Set(seen.withLock { $0 }) == Set((0..<30).map { "value-\($0)" }))

        // A second member of the same group after a clean close starts after the committed offsets.
        _ = try await producer.send(topic: "rt", key: "k-late", value: Array("late".utf8))
        let second = Mutex<[String]>([])
        let consumer2 = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger) { batch in
            second.withLock { s in s.append(contentsOf: batch.map { String(decoding: $0.value, as: UTF8.self) }) }
        }
        try await runUntil(consumer2) { second.withLock { $0.contains("late") } }
        #expect(second.withLock { $0 } == ["late"])
        await producer.close()
    }

    @Test("with two batches in flight the next batch is handled while the last is still running; no offset is stored past an unfinished batch")
    func batchesInFlight() async throws {
        let broker = try TestBroker.start(partitions: 1, topics: ["inflight"])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        for i in 0..<30 { _ = try await producer.send(topic: "inflight", key: "k", value: Array("value-\(i)".utf8)) }
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: uniqueName("g"), clientId: "c1", topics: ["inflight"])
        config.sessionTimeout = .seconds(3)
        config.retryBackoff = .milliseconds(10)
        config.maxBatchSize = 10
        config.batchesInFlight = 2
        // The first batch waits until another batch's handler has started, then
        // fails until shutdown: the later batches finish before it, and never.
        let state = Mutex((othersStarted: 0, othersDone: 0, firstAttempts: 0))
        let consumer = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger) { batch in
            if batch.contains(where: { $0.value == Array("value-0".utf8) }) {
                let deadline = ContinuousClock.now + .seconds(5)
                while state.withLock({ $0.othersStarted }) == 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                state.withLock { $0.firstAttempts += 1 }
                throw TestFailure()
            }
            state.withLock { $0.othersStarted += 1 }
            state.withLock { $0.othersDone += 1 }
        }
        try await runUntil(consumer) { state.withLock { $0.othersDone >= 1 && $0.firstAttempts >= 3 } }
        #expect(state.withLock { $0.othersStarted } >= 1, "no other batch was handled while the first one ran")
        // A new member of the group starts at the first batch: the later batch's
        // offsets were not stored past it.
        let again = Mutex<[String]>([])
        config.batchesInFlight = 1
        let consumer2 = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger) { batch in
            again.withLock { a in a.append(contentsOf: batch.map { String(decoding: $0.value, as: UTF8.self) }) }
        }
        try await runUntil(consumer2) { again.withLock { $0.count } >= 30 }
        #expect(again.withLock { $0 } == (0..<30).map { "value-\($0)" })
        await producer.close()
    }

    @Test("ensureTopics leaves existing topics alone and names a topic it cannot create")
    func ensureTopics() async throws {
        let broker = try TestBroker.start(partitions: 5, topics: ["a.topic", "b.topic"])
        try await KafkaAdmin.ensureTopics(["a.topic", "b.topic"], partitions: 5, bootstrapServers: broker.bootstrapServers, logger: logger)
        try await KafkaAdmin.ensureTopics(["a.topic"], partitions: 5, bootstrapServers: broker.bootstrapServers, logger: logger)
        let count = try await KafkaAdmin.partitionCount(topic: "a.topic", bootstrapServers: broker.bootstrapServers, logger: logger)
        #expect(count == 5)
        // librdkafka 2.0's mock cluster cannot run CreateTopics: the error must name the topic.
        let error = await #expect(throws: KafkaError.self) {
            try await KafkaAdmin.ensureTopics(["c.topic"], partitions: 5, bootstrapServers: broker.bootstrapServers, timeout: .seconds(2), logger: logger)
        }
        #expect(error?.description.contains("c.topic") == true)
    }
}

struct TestFailure: Error {}

/// Runs `service` in a ServiceGroup until `condition` holds (polled), then shuts it down gracefully.
func runUntil(_ service: some Service, timeout: Duration = .seconds(30), _ condition: @escaping @Sendable () -> Bool) async throws {
    let group = ServiceGroup(services: [service], logger: Logger(label: "test.group"))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else {
                await group.triggerGracefulShutdown()
                Issue.record("condition not met within \(timeout)")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}
