import HeraldCore

/// One record of `herald.dlq`: the original key and bytes, where they came from,
/// and why they could not be processed. This is the dead letter's one codec:
/// `DeadLetterQueue` writes it (`outgoing()`), `heraldctl dlq` reads it
/// (`init(reading:)`), and the header names live only here.
public struct DeadLetter: Sendable, Equatable {
    /// Where the dead-lettered bytes were read.
    public enum Source: Sendable, Equatable {
        /// A Kafka record at this place.
        case topic(String, partition: Int, offset: Int64)
        /// A value stored in Redis (a damaged stored journey): the key and hash field.
        case redis(key: String, field: String)
        /// Headers a dead letter must have were missing or unreadable (written by
        /// something other than Herald); what the topic header said, if anything.
        case unknown(String?)
    }

    /// The original record key (the contact id for Herald's records).
    public var key: String?
    /// The original bytes, unchanged.
    public var value: [UInt8]
    /// Where the bytes came from.
    public var source: Source
    /// The field the failure is about; empty when it is about the whole record.
    public var field: String
    /// Why it failed, in full.
    public var reason: String

    /// A dead letter of these parts.
    public init(key: String?, value: [UInt8], source: Source, field: String = "", reason: String) {
        self.key = key
        self.value = value
        self.source = source
        self.field = field
        self.reason = reason
    }

    /// The source topic written for values read from Redis.
    public static let redisTopic = "redis"
    /// The header a replayed copy carries on its source topic: `herald.dlq/PARTITION:OFFSET`.
    public static let replayedFromHeader = "herald.replayed.from"

    enum Header {
        static let field = "herald.error.field"
        static let reason = "herald.error.reason"
        static let topic = "herald.source.topic"
        static let partition = "herald.source.partition"
        static let offset = "herald.source.offset"
        static let redisKey = "herald.source.redis_key"
        static let redisField = "herald.source.redis_field"
    }

    /// The dead letter as a record for `topic` (herald.dlq).
    public func outgoing(to topic: String = Topics.dlq) -> KafkaOutgoingRecord {
        var headers = [KafkaHeader(name: Header.field, string: field), KafkaHeader(name: Header.reason, string: reason)]
        switch source {
        case .topic(let name, let partition, let offset):
            headers += [
                KafkaHeader(name: Header.topic, string: name), KafkaHeader(name: Header.partition, string: String(partition)),
                KafkaHeader(name: Header.offset, string: String(offset)),
            ]
        case .redis(let key, let field):
            headers += [
                KafkaHeader(name: Header.topic, string: Self.redisTopic), KafkaHeader(name: Header.redisKey, string: key),
                KafkaHeader(name: Header.redisField, string: field),
            ]
        case .unknown(let topic):
            if let topic { headers.append(KafkaHeader(name: Header.topic, string: topic)) }
        }
        return KafkaOutgoingRecord(topic: topic, key: key, value: value, headers: headers)
    }

    /// A dead letter read back from `record` of herald.dlq. Missing headers are
    /// not an error (an operator may have produced to the topic by hand): the
    /// source is then `.unknown` and the reason empty.
    public init(reading record: KafkaRecord) {
        func text(_ name: String) -> String? { record.header(name).map { String(decoding: $0, as: UTF8.self) } }
        let topic = text(Header.topic)
        let source: Source
        if topic == Self.redisTopic, let key = text(Header.redisKey), let field = text(Header.redisField) {
            source = .redis(key: key, field: field)
        } else if let topic, topic != Self.redisTopic, let p = text(Header.partition).flatMap({ Int($0) }), let o = text(Header.offset).flatMap(Int64.init) {
            source = .topic(topic, partition: p, offset: o)
        } else {
            source = .unknown(topic)
        }
        self.init(key: record.keyString, value: record.value, source: source, field: text(Header.field) ?? "", reason: text(Header.reason) ?? "")
    }
}

extension KafkaRecord {
    /// This record as a dead letter: same key and bytes, its place as the source.
    public func deadLetter(field: String, reason: String) -> DeadLetter {
        DeadLetter(key: keyString, value: value, source: .topic(topic, partition: partition, offset: offset), field: field, reason: reason)
    }
}
