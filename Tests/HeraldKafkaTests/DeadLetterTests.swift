import HeraldCore
import HeraldKafka
import Testing

/// The dead letter's one codec: what `DeadLetterQueue` writes, `heraldctl dlq` reads back.
@Suite("Dead letters: one writer, one reader")
struct DeadLetterTests {
    /// The record herald.dlq would hold for `letter`, at 2:17.
    func stored(_ letter: DeadLetter) -> KafkaRecord {
        let out = letter.outgoing()
        return KafkaRecord(topic: out.topic, partition: 2, offset: 17, key: out.key.map { Array($0.utf8) }, value: out.value, headers: out.headers)
    }

    @Test("a Kafka record's dead letter reads back with its place, field, reason, key and bytes")
    func topicRoundTrip() {
        let source = KafkaRecord(topic: Topics.sends, partition: 3, offset: 9_000_000_000, key: Array("ada".utf8), value: [0, 0xFF, 0x7B])
        let letter = source.deadLetter(field: "template", reason: "no template 'x'")
        #expect(letter.outgoing().topic == Topics.dlq)
        let back = DeadLetter(reading: stored(letter))
        #expect(back == letter)
        #expect(back.source == .topic(Topics.sends, partition: 3, offset: 9_000_000_000) && back.value == [0, 0xFF, 0x7B] && back.key == "ada")
    }

    @Test("a value read from Redis reads back as such, with its key and field")
    func redisRoundTrip() {
        let letter = DeadLetter(key: "eve", value: Array("{".utf8), source: .redis(key: "herald:j:{7}:eve", field: "c:1"), reason: "truncated")
        #expect(DeadLetter(reading: stored(letter)) == letter)
    }

    @Test("the header names are the documented wire format (docs/operations.md)")
    func headerNames() {
        let headers = KafkaRecord(topic: Topics.eventsRaw, partition: 1, offset: 4, key: nil, value: []).deadLetter(field: "type", reason: "r").outgoing()
            .headers
        #expect(
            headers.map(\.name) == ["herald.error.field", "herald.error.reason", "herald.source.topic", "herald.source.partition", "herald.source.offset"])
        #expect(headers.map { String(decoding: $0.value, as: UTF8.self) } == ["type", "r", Topics.eventsRaw, "1", "4"])
    }

    @Test("a record put in herald.dlq by hand, without Herald's headers or with damaged ones, reads as of unknown source")
    func foreignRecord() {
        let bare = KafkaRecord(topic: Topics.dlq, partition: 0, offset: 1, key: nil, value: Array("x".utf8))
        #expect(DeadLetter(reading: bare) == DeadLetter(key: nil, value: Array("x".utf8), source: .unknown(nil), reason: ""))
        let damaged = KafkaRecord(
            topic: Topics.dlq, partition: 0, offset: 2, key: nil, value: [],
            headers: [KafkaHeader(name: "herald.source.topic", string: Topics.sends), KafkaHeader(name: "herald.source.offset", string: "-x")])
        #expect(DeadLetter(reading: damaged).source == .unknown(Topics.sends))
        // "redis" without its key and field is not a Redis value either.
        let halfRedis = KafkaRecord(
            topic: Topics.dlq, partition: 0, offset: 3, key: nil, value: [], headers: [KafkaHeader(name: "herald.source.topic", string: "redis")])
        #expect(DeadLetter(reading: halfRedis).source == .unknown("redis"))
    }
}
