import HeraldCore
import HeraldKafka
import HeraldTestSupport
import Logging
import Testing

@Suite("herald.events.raw intake (real executable)", .timeLimit(.minutes(3)))
struct RawTopicTests {
    @Test("valid raw records reach herald.events once; invalid ones reach herald.dlq with the reason and the original bytes")
    func rawIntake() async throws {
        let broker = try TestBroker.start(partitions: 3)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let producer = try KafkaProducer(configuration: .init(bootstrapServers: broker.bootstrapServers, clientId: "bulk"), logger: Logger(label: "test"))
        let run = uniqueName("raw")
        let valid = (0..<10).map { #"{"id":"\#(run)-\#($0)","type":"purchase","contact_id":"c\#($0)"}"# }
        let invalid: [(String, String)] = [
            (#"{"id":"\#(run)-bad1","type":"purchase"}"#, "contact_id"),
            ("not json at all", ""),
            (#"{"id":"\#(run)-bad3","type":"purchase","contact_id":"c","properties":"x"}"#, "properties"),
        ]
        for v in valid { _ = try await producer.send(topic: Topics.eventsRaw, key: nil, value: Array(v.utf8)) }
        // A bulk producer's retry: the same event again must not be produced twice.
        _ = try await producer.send(topic: Topics.eventsRaw, key: nil, value: Array(valid[0].utf8))
        for (v, _) in invalid { _ = try await producer.send(topic: Topics.eventsRaw, key: "k", value: Array(v.utf8)) }
        await producer.close()

        let events = try await readTopic(Topics.events, bootstrapServers: broker.bootstrapServers) { $0.count >= 10 }
        // Give a duplicate time to show up if dedupe were broken.
        try await Task.sleep(for: .seconds(1))
        let again = try await readTopic(Topics.events, bootstrapServers: broker.bootstrapServers) { $0.count >= 11 }
        let ids = again.compactMap { try? Event(decoding: $0.value).id }
        #expect(Set(ids) == Set((0..<10).map { "\(run)-\($0)" }))
        #expect(ids.count == 10, "a raw event was produced twice")
        #expect(events.allSatisfy { $0.partition == Shard.of($0.keyString ?? "", partitions: 3) })

        let dead = try await readTopic(Topics.dlq, bootstrapServers: broker.bootstrapServers) { $0.count >= 3 }
        #expect(dead.count == 3)
        for (value, field) in invalid {
            guard let record = dead.first(where: { $0.value == Array(value.utf8) }) else {
                Issue.record("no DLQ record with the original bytes of \(value)")
                continue
            }
            #expect(record.header("herald.error.field").map { String(decoding: $0, as: UTF8.self) } == field)
            #expect(record.header("herald.error.reason").map { !$0.isEmpty } == true)
            #expect(record.header("herald.source.topic").map { String(decoding: $0, as: UTF8.self) } == Topics.eventsRaw)
            #expect(record.keyString == "k")
        }
        await ingestor.process.stop()
        await redis.stop()
    }
}
