/// How a `KafkaConsumer` joins its group and reads.
public struct KafkaConsumerConfiguration: Sendable {
    /// Brokers to start from, `host:port[,host:port]`.
    public var bootstrapServers: String
    /// The consumer group; every process of one worker kind shares it.
    public var groupId: String
    /// Shown in broker logs; unique per process is best.
    public var clientId: String
    /// The topics to subscribe to.
    public var topics: [String]
    /// Most records handed to the handler at once.
    public var maxBatchSize: Int = 500
    /// How many batches may be in the handler at once. With 1, a batch is polled
    /// once the previous one is done. With 2, the next batch is polled and handed
    /// over while the previous one is still being handled, so a handler that
    /// spends part of each batch waiting (on Redis, on a provider) overlaps the
    /// start of the next batch with the end of the last. Offsets are still stored
    /// in poll order, each batch's only after every earlier batch is done. Records
    /// of one partition may then be handled out of order across batches: only a
    /// handler for which that is harmless should ask for more than 1 (the sender,
    /// which claims every message in Redis before calling a provider).
    public var batchesInFlight: Int = 1
    /// How long a broker may hold a fetch that finds no new record. A real
    /// broker answers as soon as data arrives; librdkafka's mock cluster (the dev
    /// and test broker) answers only when this runs out, so every hop through a
    /// topic cost up to the default 500 ms. 20 ms keeps hops short at the price of
    /// more empty fetches while idle.
    public var fetchWaitMax: Duration = .milliseconds(20)

    /// How long one poll waits for the first record of a batch.
    public var pollTimeout: Duration = .milliseconds(100)
    /// How often consumer lag is computed and exported. Each time asks the broker
    /// for the group's committed offsets (a round trip on the consumer's queue,
    /// between polls): every 5 s keeps that off the hot path and is still finer
    /// than a Prometheus scrape.
    public var lagInterval: Duration = .seconds(5)
    /// Heartbeat session timeout; a member silent this long is removed from the group.
    public var sessionTimeout: Duration = .seconds(10)
    /// The first pause before a failed batch or record is tried again; each
    /// further failure doubles it, up to 10 s (`KafkaConsumer`'s failure policy).
    public var retryBackoff: Duration = .milliseconds(200)
    /// Failures (not counting dependency outages) after which a record goes to
    /// the dead-letter queue.
    public var maxAttempts: Int = 5
    /// Extra librdkafka properties, applied last (they win).
    public var extraProperties: [String: String] = [:]
    /// Put before every topic name at the broker; `topics` and the records'
    /// topics are without it (`kafka.topic_prefix`).
    public var topicPrefix = ""

    /// A consumer of `topics` in group `groupId`, with the other settings at their defaults.
    public init(bootstrapServers: String, groupId: String, clientId: String, topics: [String]) {
        self.bootstrapServers = bootstrapServers
        self.groupId = groupId
        self.clientId = clientId
        self.topics = topics
    }

    var properties: [String: String] {
        var p: [String: String] = [
            "bootstrap.servers": bootstrapServers,
            "group.id": groupId,
            "client.id": clientId,
            "partition.assignment.strategy": "cooperative-sticky",
            // At-least-once: librdkafka commits only offsets we stored, and we store an
            // offset only after the handler finished with the record.
            "enable.auto.commit": "true",
            "enable.auto.offset.store": "false",
            "auto.commit.interval.ms": "1000",
            // A partition with a committed offset that the broker no longer has must not
            // be skipped silently; partitions without one start at the beginning (set in
            // the rebalance callback).
            "auto.offset.reset": "error",
            "session.timeout.ms": String(sessionTimeout.milliseconds),
            "heartbeat.interval.ms": String(max(100, sessionTimeout.milliseconds / 5)),
            "enable.partition.eof": "false",
            "fetch.wait.max.ms": String(fetchWaitMax.milliseconds),
            "topic.metadata.refresh.interval.ms": "10000",
        ]
        p.merge(extraProperties) { _, extra in extra }
        return p
    }
}
