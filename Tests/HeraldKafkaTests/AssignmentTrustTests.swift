import HeraldCore
import HeraldTestSupport
import Logging
import Prometheus
import Synchronization
import Testing

@testable import HeraldKafka

@Suite("Trust in a consumer's assignment: stalls and fences put it in doubt for a session timeout of polls")
struct AssignmentTrustTests {
    let start = ContinuousClock.now
    let tp = TopicPartition(topic: "t", partition: 3)
    let other = TopicPartition(topic: "t", partition: 4)

    func at(_ ms: Int) -> ContinuousClock.Instant { start + .milliseconds(ms) }

    /// Ticks every 100 ms and polls every 50 ms over `range`, as a healthy process does.
    func run(_ trust: inout AssignmentTrust, from: Int, to: Int) {
        for ms in stride(from: from, through: to, by: 50) {
            if ms % 100 == 0 { trust.tick(at: at(ms)) }
            trust.polled(at: at(ms))
        }
    }

    @Test("a healthy process is trusted; a stall is doubted at once, before the ticker notices, and until a window of polls has passed")
    func stall() {
        var trust = AssignmentTrust(sessionTimeout: .seconds(6), now: at(0))
        run(&trust, from: 0, to: 2000)
        #expect(trust.doubt(about: tp, at: at(2000)) == nil)
        // Stopped from 2 s to 12 s: the first code to run after it sees the stale tick.
        #expect(trust.doubt(about: tp, at: at(12_000))?.contains("stalled") == true)
        trust.tick(at: at(12_000))
        #expect(trust.doubt(about: tp, at: at(12_001)) != nil, "the ticker noticed the stall; the doubt stays")
        run(&trust, from: 12_050, to: 17_950)
        #expect(trust.doubt(about: tp, at: at(17_950)) != nil, "less than a session timeout of polls since the stall")
        run(&trust, from: 18_000, to: 18_100)
        #expect(trust.doubt(about: tp, at: at(18_100)) == nil)
    }

    @Test("a pause shorter than half the session timeout is not a stall")
    func shortPause() {
        var trust = AssignmentTrust(sessionTimeout: .seconds(6), now: at(0))
        run(&trust, from: 0, to: 1000)
        run(&trust, from: 3900, to: 4000)
        #expect(trust.doubt(about: tp, at: at(4000)) == nil)
    }

    @Test("without polls a doubt never ends: only a poll can serve the revoke that may be coming")
    func noPolls() {
        var trust = AssignmentTrust(sessionTimeout: .seconds(6), now: at(0))
        trust.fenced(tp, at: at(100))
        for ms in stride(from: 100, through: 30_000, by: 100) { trust.tick(at: at(ms)) }
        #expect(trust.doubt(about: tp, at: at(30_000)) != nil)
        trust.polled(at: at(30_000))
        #expect(trust.doubt(about: tp, at: at(30_000)) == nil)
    }

    @Test("a fence puts only its partition in doubt, for a session timeout of polls")
    func fence() {
        var trust = AssignmentTrust(sessionTimeout: .seconds(6), now: at(0))
        run(&trust, from: 0, to: 1000)
        trust.fenced(tp, at: at(1000))
        #expect(trust.doubt(about: tp, at: at(1000))?.contains("fencing token") == true)
        #expect(trust.doubt(about: other, at: at(1000)) == nil)
        run(&trust, from: 1050, to: 6950)
        #expect(trust.doubt(about: tp, at: at(6950)) != nil)
        run(&trust, from: 7000, to: 7000)
        #expect(trust.doubt(about: tp, at: at(7000)) == nil)
    }

    @Test(
        "a consumer doubts a partition it does not own and one it was fenced on; a handler's doubt rewinds the batch: every record handled, none dead-lettered, none skipped",
        .timeLimit(.minutes(2)))
    func rewind() async throws {
        let logger = Logger(label: "test")
        let topic = uniqueName("doubt")
        let broker = try TestBroker.start(partitions: 1, topics: [topic, Topics.dlq])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        let values = (0..<10).map { "r\($0)" }
        for v in values { _ = try await producer.send(topic: topic, key: "k", value: Array(v.utf8)) }
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: uniqueName("g"), clientId: "c", topics: [topic])
        config.retryBackoff = .milliseconds(5)
        config.maxAttempts = 1
        config.maxBatchSize = 3
        let metrics = PrometheusCollectorRegistry()
        let dlq = DeadLetterQueue(producer: producer, metrics: metrics, worker: "test", logger: logger)
        let seen = Mutex<[String]>([])
        let doubts = Mutex(0)
        let partition = TopicPartition(topic: topic, partition: 0)
        let consumer = try KafkaConsumer(configuration: config, metrics: metrics, worker: "test", deadLetters: dlq, logger: logger) { batch in
            let texts = batch.map { String(decoding: $0.value, as: UTF8.self) }
            // The batch holding r4 is in doubt three times; its records must come again.
            if texts.contains("r4"),
                doubts.withLock({ d in
                    d += 1; return d <= 3
                })
            {
                throw PartitionInDoubt(partition: partition, reason: "test")
            }
            seen.withLock { $0.append(contentsOf: texts) }
        }
        #expect(consumer.ownershipDoubt(partition)?.contains("not assigned") == true)
        try await runUntil(consumer) { Set(seen.withLock { $0 }).count == 10 && consumer.assignment.contains(partition) }
        #expect(doubts.withLock { $0 } >= 4)
        let handled = seen.withLock { $0 }
        #expect(Set(handled) == Set(values))
        // In order: the rewound records came again before any later one was handled.
        #expect(handled == handled.sorted { Int($0.dropFirst())! < Int($1.dropFirst())! }, "\(handled)")
        var bytes: [UInt8] = []
        metrics.emit(into: &bytes)
        #expect(!String(decoding: bytes, as: UTF8.self).contains("herald_dlq_records_total{"), "a doubt is not a failure")
        await producer.close()
    }

    @Test(
        "with two batches in flight, both in doubt on one partition: the later batch's rewind does not seek past the earlier one's, so no record is skipped",
        .timeLimit(.minutes(2)))
    func rewindTwoInFlight() async throws {
        let logger = Logger(label: "test")
        let topic = uniqueName("doubt2")
        let broker = try TestBroker.start(partitions: 1, topics: [topic])
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "p"), logger: logger)
        let values = (0..<30).map { "r\($0)" }
        for v in values { _ = try await producer.send(topic: topic, key: "k", value: Array(v.utf8)) }
        var config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: uniqueName("g"), clientId: "c", topics: [topic])
        config.retryBackoff = .milliseconds(5)
        config.maxBatchSize = 10
        config.batchesInFlight = 2
        let partition = TopicPartition(topic: topic, partition: 0)
        // The first two batches handed over are each in doubt, and the first
        // waits until the second has started, so both rewind.
        let state = Mutex((seen: Set<String>(), calls: 0))
        let consumer = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger) { batch in
            let call = state.withLock { s in
                s.calls += 1
                return s.calls
            }
            if call <= 2 {
                let deadline = ContinuousClock.now + .seconds(5)
                while call == 1 && state.withLock({ $0.calls }) < 2 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
                throw PartitionInDoubt(partition: partition, reason: "test")
            }
            state.withLock { s in s.seen.formUnion(batch.map { String(decoding: $0.value, as: UTF8.self) }) }
        }
        try await runUntil(consumer) { state.withLock { $0.seen.count } == 30 }
        let seen = state.withLock { $0.seen }
        #expect(seen == Set(values), "skipped: \(Set(values).subtracting(seen).sorted())")
        await producer.close()
    }

    @Test("fenced(_:) puts an owned partition in doubt at once", .timeLimit(.minutes(1)))
    func fencedOwned() async throws {
        let logger = Logger(label: "test")
        let topic = uniqueName("fence")
        let broker = try TestBroker.start(partitions: 2, topics: [topic])
        let config = KafkaConsumerConfiguration(bootstrapServers: broker.bootstrapServers, groupId: uniqueName("g"), clientId: "c", topics: [topic])
        let consumer = try KafkaConsumer(configuration: config, metrics: PrometheusCollectorRegistry(), worker: "test", logger: logger) { _ in }
        let p0 = TopicPartition(topic: topic, partition: 0), p1 = TopicPartition(topic: topic, partition: 1)
        let checked = Mutex(false)
        try await runUntil(consumer) {
            guard consumer.assignment.count == 2 else { return false }
            let before = consumer.ownershipDoubt(p0)
            consumer.fenced(p0)
            let after = consumer.ownershipDoubt(p0)
            #expect(before == nil, "\(before ?? "")")
            #expect(after?.contains("fencing token") == true)
            #expect(consumer.ownershipDoubt(p1) == nil)
            checked.withLock { $0 = true }
            return true
        }
        #expect(checked.withLock { $0 })
    }
}
