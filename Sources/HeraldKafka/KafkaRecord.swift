/// A topic and partition.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int

    public init(topic: String, partition: Int) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }

    public static func < (a: TopicPartition, b: TopicPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }
}

/// One record read from Kafka.
public struct KafkaRecord: Sendable, Hashable {
    public var topic: String
    public var partition: Int
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]
    /// The record's timestamp, UTC milliseconds (-1 if the broker gave none).
    public var timestamp: Int64

    public init(topic: String, partition: Int, offset: Int64, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = [], timestamp: Int64 = -1) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// The key as UTF-8 text, if any.
    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }

    /// The first header with this name.
    public func header(_ name: String) -> [UInt8]? { headers.first { $0.name == name }?.value }

    /// This record moved to `topic` (the dead-letter topic) unchanged — same key
    /// and bytes — with why in headers: `herald.error.field`,
    /// `herald.error.reason`, `herald.source.topic`, `herald.source.partition`,
    /// `herald.source.offset`. Every worker dead-letters the same way, so one
    /// tool reads and replays `herald.dlq` whatever wrote to it.
    public func deadLettered(to topic: String, field: String, reason: String) -> KafkaOutgoingRecord {
        KafkaOutgoingRecord(
            topic: topic, key: keyString, value: value,
            headers: [
                KafkaHeader(name: "herald.error.field", string: field),
                KafkaHeader(name: "herald.error.reason", string: reason),
                KafkaHeader(name: "herald.source.topic", string: self.topic),
                KafkaHeader(name: "herald.source.partition", string: String(partition)),
                KafkaHeader(name: "herald.source.offset", string: String(offset)),
            ])
    }
}

/// A Kafka record header.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]

    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }

    public init(name: String, string: String) {
        self.init(name: name, value: Array(string.utf8))
    }
}

/// Where the broker stored a produced record.
public struct KafkaDeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int
    public var offset: Int64
}

/// A record to produce.
public struct KafkaOutgoingRecord: Sendable {
    public var topic: String
    public var key: String?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(topic: String, key: String?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}
