import HeraldCore

/// How a `KafkaProducer` connects and behaves.
public struct KafkaProducerConfiguration: Sendable {
    /// `host:port[,host:port]`.
    public var bootstrapServers: String
    /// Shown in broker logs and metrics.
    public var clientId: String
    /// How long librdkafka may try to deliver a record before failing it.
    public var messageTimeout: Duration = .seconds(30)
    /// How long records wait to fill a batch.
    public var linger: Duration = .milliseconds(5)
    /// How long shutdown waits for outstanding records to be acknowledged.
    public var flushTimeout: Duration = .seconds(10)
    /// Extra librdkafka properties, applied last (they win).
    public var extraProperties: [String: String] = [:]
    /// Put before every topic name at the broker; `send` takes topics without it (`kafka.topic_prefix`).
    public var topicPrefix = ""

    /// A producer for `bootstrapServers`, with the other settings at their defaults.
    public init(bootstrapServers: String, clientId: String) {
        self.bootstrapServers = bootstrapServers
        self.clientId = clientId
    }

    var properties: [String: String] {
        var p: [String: String] = [
            "bootstrap.servers": bootstrapServers,
            "client.id": clientId,
            // Idempotence: retries never duplicate or reorder records of a partition.
            "enable.idempotence": "true",
            "acks": "all",
            // Kafka's Java default partitioner: a key lands in murmur2(key) % N (see Shard).
            "partitioner": "murmur2_random",
            "linger.ms": String(linger.milliseconds),
            "message.timeout.ms": String(messageTimeout.milliseconds),
            "queue.buffering.max.messages": "500000",
        ]
        p.merge(extraProperties) { _, extra in extra }
        return p
    }
}
