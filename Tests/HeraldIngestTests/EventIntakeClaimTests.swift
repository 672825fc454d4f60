import HeraldCore
import HeraldKafka
import HeraldRedis
import HeraldTestSupport
import Logging
import Prometheus
import Testing

@testable import HeraldIngest

@Suite("EventIntake's dedupe claims (real redis-server and broker)", .timeLimit(.minutes(2)))
struct EventIntakeClaimTests {
    @Test(
        "a claim whose reply was lost is taken back by the same intake at once; another intake's waits; two attempts of one intake never both produce"
    )
    func lostReplies() async throws {
        let broker = try TestBroker.start(partitions: 4)
        let server = try await TestRedisServer()
        let logger = Logger(label: "test")
        let redis = RedisPool(configuration: server.configuration, logger: logger)
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "intake-test"), logger: logger)
        func intake() -> EventIntake {
            EventIntake(
                redis: redis, producer: producer, partitions: 4, dedupeWindow: .seconds(3600), messageTimeout: .seconds(30),
                metrics: PrometheusCollectorRegistry(), source: "test", logger: logger)
        }
        let mine = intake(), other = intake()
        let lost = Event(id: "e-lost", type: "page_visited", contactId: "c1", timestamp: 1, receivedAt: 1)
        // What Redis holds when it applied this intake's claim after the call had
        // timed out (a pause past the command timeout): pending for 40 s.
        _ = try await redis.execute(["SET", mine.dedupeKey(lost), mine.claimant, "PX", "40000"])
        #expect(try await other.accept([lost]) == [.retry("an event with this id is being accepted by another request")])
        #expect(try await mine.accept([lost]) == [.accepted], "its own lost claim is taken back, not waited out")
        #expect(try await mine.accept([lost]) == [.duplicate])
        #expect(try await redis.execute(["GET", mine.dedupeKey(lost)]).string == "done")
        // Two requests of one intake with the same id at once: one produces it.
        let twice = Event(id: "e-twice", type: "page_visited", contactId: "c2", timestamp: 1, receivedAt: 1)
        async let first = mine.accept([twice])
        async let second = mine.accept([twice])
        let outcomes = try await first + second
        #expect(outcomes.filter { $0 == .accepted }.count == 1, "\(outcomes)")
        let records = try await readTopic(Topics.events, bootstrapServers: broker.bootstrapServers, timeout: .seconds(5)) { $0.count > 2 }
        #expect(records.compactMap { try? Event(decoding: $0.value) }.map(\.id).sorted() == ["e-lost", "e-twice"])
        #expect(mine.inFlight.keys.withLock { $0.isEmpty }, "every key released")
        await producer.close()
        await server.stop()
    }
}
