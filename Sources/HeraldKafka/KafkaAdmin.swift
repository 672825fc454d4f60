import HeraldCore
import Logging

/// Topic administration.
public enum KafkaAdmin {
    /// Creates each topic with `partitions` partitions unless it exists already.
    ///
    /// Idempotent: an existing topic is left as it is (its partition count is not
    /// changed; a mismatch is logged as a warning, because keyed routing would break).
    /// - Throws: `KafkaError` naming the topic when the broker refused or timed out.
    public static func ensureTopics(
        _ topics: [String], partitions: Int, replicationFactor: Int = 1,
        bootstrapServers: String, clientProperties: [String: String] = [:], topicPrefix: String = "", timeout: Duration = .seconds(15), logger: Logger
    ) async throws {
        // The connection's security settings (`clientProperties`) win over nothing here: they only add.
        let handle = try RDKafkaHandle.admin(
            properties: ["bootstrap.servers": bootstrapServers, "client.id": "herald-admin"].merging(clientProperties) { own, _ in own }, logger: logger,
            topicPrefix: topicPrefix)
        let timeoutMs = Int32(clamping: timeout.milliseconds)
        // Look first: a topic that exists is never sent to CreateTopics, so start-up
        // against the embedded broker (whose CreateTopics never finds a controller in
        // librdkafka 2.0) and against a locked-down production cluster both work.
        guard let existing = await partitionCounts(handle: handle, timeoutMs: timeoutMs) else {
            throw KafkaError(
                code: .allBrokersDown, message: "no broker at \(bootstrapServers) answered a metadata request within \(timeout)", isRetriable: true)
        }
        for name in topics {
            if let count = existing[name], count != partitions {
                logger.warning(
                    "kafka.admin topic exists with a different partition count; keyed routing assumes one count for all topics",
                    metadata: [LogKeys.topic: "\(name)", "kafka.expected": "\(partitions)", "kafka.actual": "\(count)"])
            }
        }
        let missing = topics.filter { existing[$0] == nil }
        guard !missing.isEmpty else { return }
        let results = try await handle.queue.run { [handle] in
            try handle.createTopics(missing, partitions: partitions, replication: replicationFactor, timeoutMs: timeoutMs)
        }
        for (name, error) in results {
            switch error?.code {
            case nil:
                logger.info("kafka.admin created topic", metadata: [LogKeys.topic: "\(name)", LogKeys.partitions: "\(partitions)"])
            case .topicAlreadyExists?:
                break  // created by another process meanwhile
            default:
                throw error!
            }
        }
    }

    /// The partition count of `topic`, or nil when the broker does not know it.
    public static func partitionCount(
        topic: String, bootstrapServers: String, clientProperties: [String: String] = [:], timeout: Duration = .seconds(5), logger: Logger
    ) async throws -> Int? {
        let handle = try RDKafkaHandle.admin(
            properties: ["bootstrap.servers": bootstrapServers, "client.id": "herald-admin", "allow.auto.create.topics": "false"].merging(clientProperties) {
                own, _ in own
            }, logger: logger)
        return await partitionCount(handle: handle, topic: topic, timeoutMs: Int32(clamping: timeout.milliseconds))
    }

    static func partitionCount(handle: RDKafkaHandle, topic: String, timeoutMs: Int32) async -> Int? {
        await partitionCounts(handle: handle, timeoutMs: timeoutMs)?[topic]
    }

    /// Partition counts of every topic the cluster knows.
    static func partitionCounts(handle: RDKafkaHandle, timeoutMs: Int32) async -> [String: Int]? {
        await handle.queue.run { [handle] in handle.partitionCounts(timeoutMs: timeoutMs) }
    }
}
