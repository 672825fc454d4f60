internal import CRdKafka
import Logging
import Synchronization

/// librdkafka's mock cluster and the client handle it keeps its bookkeeping on.
///
/// `@unchecked Sendable`: the mock cluster is driven by its own thread and its API
/// is thread-safe; destroy is guarded to run once.
final class MockCluster: @unchecked Sendable {
    private let mc: OpaquePointer
    /// The handle the cluster lives on; it must outlive the cluster.
    private let handle: RDKafkaHandle
    private let destroyed = Mutex(false)

    /// Starts `brokers` brokers on 127.0.0.1.
    /// - Throws: `KafkaError` when librdkafka cannot create them.
    init(brokers: Int, logger: Logger) throws {
        let conf = try RDKafkaConfig.make(["client.id": "herald-embedded-broker"])
        RDKafkaHandle.installLogging(conf)
        let rk = try RDKafkaConfig.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf)
        guard let mc = rd_kafka_mock_cluster_new(rk, Int32(brokers)) else {
            rd_kafka_destroy(rk)
            throw KafkaError(code: .invalidArgument, message: "rd_kafka_mock_cluster_new failed", isRetriable: false)
        }
        self.mc = mc
        self.handle = RDKafkaHandle(rk, logger: logger)
    }

    /// The address clients connect to (`127.0.0.1:port[,...]`).
    var bootstraps: String { String(cString: rd_kafka_mock_cluster_bootstraps(mc)) }

    /// Creates a topic; an existing one is left alone.
    func createTopic(_ name: String, partitions: Int) throws {
        let err = rd_kafka_mock_topic_create(mc, name, Int32(partitions), 1)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
            throw KafkaError(err, context: "create topic \(name)")
        }
    }

    /// Stops the brokers; clients see their connections close.
    func destroy() {
        let first = destroyed.withLock { d -> Bool in
            defer { d = true }
            return !d
        }
        if first { rd_kafka_mock_cluster_destroy(mc) }
    }

    // The cluster goes before the handle it keeps its bookkeeping on (the handle
    // is released after this deinit's body).
    deinit { destroy() }
}
