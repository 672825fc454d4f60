import Logging

/// Herald's embedded broker for dev and tests: librdkafka's mock cluster, which
/// speaks the Kafka protocol over TCP on 127.0.0.1.
///
/// Limits (DESIGN.md): a partition keeps only its last 100,000 records or 5 MB, so
/// long runs must consume while they produce.
public final class EmbeddedKafkaBroker: Sendable {
    private let cluster: MockCluster

    /// The address every client connects to (`127.0.0.1:port[,...]`).
    public let bootstrapServers: String

    /// Starts a cluster of `brokers` brokers.
    /// - Throws: `KafkaError` when librdkafka cannot create it.
    public init(brokers: Int = 1, logger: Logger) throws {
        cluster = try MockCluster(brokers: brokers, logger: logger)
        bootstrapServers = cluster.bootstraps
    }

    /// Creates a topic (an existing one is left alone).
    public func createTopic(_ name: String, partitions: Int) throws {
        try cluster.createTopic(name, partitions: partitions)
    }

    /// Stops the cluster; clients see their connections close.
    public func shutdown() {
        cluster.destroy()
    }

    deinit { cluster.destroy() }
}
