/// A topic and partition.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The topic.
    public var topic: String
    /// The partition number, from 0.
    public var partition: Int

    /// Partition `partition` of `topic`.
    public init(topic: String, partition: Int) {
        self.topic = topic
        self.partition = partition
    }

    /// `topic[partition]`.
    public var description: String { "\(topic)[\(partition)]" }

    /// Ordered by topic, then partition.
    public static func < (a: TopicPartition, b: TopicPartition) -> Bool {
        (a.topic, a.partition) < (b.topic, b.partition)
    }
}

/// One record read from Kafka.
public struct KafkaRecord: Sendable, Hashable {
    /// The topic it was read from.
    public var topic: String
    /// Its partition.
    public var partition: Int
    /// The record's offset in its partition.
    public var offset: Int64
    /// The key (Herald's keyed topics: the contact id), nil when the record has none.
    public var key: [UInt8]?
    /// The value's bytes.
    public var value: [UInt8]
    /// The headers, in order.
    public var headers: [KafkaHeader]
    /// The record's timestamp, UTC milliseconds (-1 if the broker gave none).
    public var timestamp: Int64

    /// A record as read (tests build them too).
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
}

/// A Kafka record header.
public struct KafkaHeader: Sendable, Hashable {
    /// The header's name.
    public var name: String
    /// The header's value.
    public var value: [UInt8]

    /// A header of `name` and `value`.
    public init(name: String, value: [UInt8]) {
        self.name = name
        self.value = value
    }

    /// A header whose value is `string`'s UTF-8.
    public init(name: String, string: String) {
        self.init(name: name, value: Array(string.utf8))
    }
}

/// Where the broker stored a produced record.
public struct KafkaDeliveryReport: Sendable, Hashable {
    /// The topic written to.
    public var topic: String
    /// The partition the record went to.
    public var partition: Int
    /// Its offset there.
    public var offset: Int64
}

/// A record to produce.
public struct KafkaOutgoingRecord: Sendable {
    /// The topic to write to.
    public var topic: String
    /// The key (the contact id on keyed topics); it picks the partition.
    public var key: String?
    /// The value's bytes.
    public var value: [UInt8]
    /// Headers to send along.
    public var headers: [KafkaHeader]

    /// A record of `value` under `key` for `topic`.
    public init(topic: String, key: String?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
    }
}
