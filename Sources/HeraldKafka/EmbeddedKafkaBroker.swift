internal import CRdKafka
import Logging
import Synchronization

/// Herald's embedded broker for dev and tests: librdkafka's mock cluster, which
/// speaks the Kafka protocol over TCP on 127.0.0.1.
///
/// Limits (DESIGN.md): a partition keeps only its last 100,000 records or 5 MB, so
/// long runs must consume while they produce.
public final class EmbeddedKafkaBroker: Sendable {
    private let handle: RDKafkaHandle
    private let cluster: MockCluster

    /// The address every client connects to (`127.0.0.1:port[,...]`).
    public let bootstrapServers: String

    /// Starts a cluster of `brokers` brokers.
    /// - Throws: `KafkaError` when librdkafka cannot create it.
    public init(brokers: Int = 1, logger: Logger) throws {
        let conf = try RDKafkaConfig.make(["client.id": "herald-embedded-broker"])
        RDKafkaHandle.installLogging(conf)
        let rk = try RDKafkaConfig.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf)
        // The mock cluster keeps bookkeeping on `rk`; the handle must outlive it.
        guard let mc = rd_kafka_mock_cluster_new(rk, Int32(brokers)) else {
            rd_kafka_destroy(rk)
            throw KafkaError(code: .invalidArgument, message: "rd_kafka_mock_cluster_new failed", isRetriable: false)
        }
        self.cluster = MockCluster(mc)
        self.handle = RDKafkaHandle(rk, logger: logger)
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(mc))
    }

    /// Creates a topic (an existing one is left alone).
    public func createTopic(_ name: String, partitions: Int) throws {
        let err = rd_kafka_mock_topic_create(cluster.mc, name, Int32(partitions), 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
            throw KafkaError(err, context: "create topic \(name)")
        }
    }

    /// Stops the cluster; clients see their connections close.
    public func shutdown() {
        cluster.destroy()
    }

    // The cluster must go before the handle it keeps its bookkeeping on.
    deinit { cluster.destroy() }
}

/// `@unchecked Sendable`: the mock cluster is driven by its own thread and its API
/// is thread-safe; destroy is guarded to run once.
final class MockCluster: @unchecked Sendable {
    let mc: OpaquePointer
    private let destroyed = Mutex(false)

    init(_ mc: OpaquePointer) { self.mc = mc }

    func destroy() {
        let first = destroyed.withLock { d -> Bool in
            defer { d = true }
            return !d
        }
        if first { rd_kafka_mock_cluster_destroy(mc) }
    }
}
