internal import CRdKafka
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
        bootstrapServers: String, timeout: Duration = .seconds(15), logger: Logger
    ) async throws {
        let conf = try RDKafkaConfig.make(["bootstrap.servers": bootstrapServers, "client.id": "herald-admin"])
        RDKafkaHandle.installLogging(conf)
        let handle = RDKafkaHandle(try RDKafkaConfig.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf), logger: logger)
        let timeoutMs = Int32(clamping: timeout.milliseconds)
        // Look first: a topic that exists is never sent to CreateTopics, so start-up
        // against the embedded broker (whose CreateTopics never finds a controller in
        // librdkafka 2.0) and against a locked-down production cluster both work.
        guard let existing = await partitionCounts(handle: handle, timeoutMs: timeoutMs) else {
            throw KafkaError(code: .allBrokersDown, message: "no broker at \(bootstrapServers) answered a metadata request within \(timeout)", isRetriable: true)
        }
        for name in topics {
            if let count = existing[name], count != partitions {
                logger.warning("kafka.admin topic exists with a different partition count; keyed routing assumes one count for all topics",
                    metadata: [LogKeys.topic: "\(name)", "kafka.expected": "\(partitions)", "kafka.actual": "\(count)"])
            }
        }
        let missing = topics.filter { existing[$0] == nil }
        guard !missing.isEmpty else { return }
        let results = try await handle.queue.run { [handle] () throws -> [(String, rd_kafka_resp_err_t, String)] in
            try createTopics(rk: handle.rk, topics: missing, partitions: partitions, replication: replicationFactor, timeoutMs: timeoutMs)
        }
        for (name, err, message) in results {
            switch err {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                logger.info("kafka.admin created topic", metadata: [LogKeys.topic: "\(name)", LogKeys.partitions: "\(partitions)"])
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
                break  // created by another process meanwhile
            default:
                throw KafkaError(err, context: "create topic \(name): \(message)")
            }
        }
    }

    /// The partition count of `topic`, or nil when the broker does not know it.
    public static func partitionCount(topic: String, bootstrapServers: String, timeout: Duration = .seconds(5), logger: Logger) async throws -> Int? {
        let conf = try RDKafkaConfig.make(["bootstrap.servers": bootstrapServers, "client.id": "herald-admin", "allow.auto.create.topics": "false"])
        RDKafkaHandle.installLogging(conf)
        let handle = RDKafkaHandle(try RDKafkaConfig.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf), logger: logger)
        return await partitionCount(handle: handle, topic: topic, timeoutMs: Int32(clamping: timeout.milliseconds))
    }

    static func partitionCount(handle: RDKafkaHandle, topic: String, timeoutMs: Int32) async -> Int? {
        await partitionCounts(handle: handle, timeoutMs: timeoutMs)?[topic]
    }

    /// Partition counts of every topic the cluster knows.
    static func partitionCounts(handle: RDKafkaHandle, timeoutMs: Int32) async -> [String: Int]? {
        await handle.queue.run { [handle] () -> [String: Int]? in
            var metadata: UnsafePointer<rd_kafka_metadata>? = nil
            guard rd_kafka_metadata(handle.rk, 1, nil, &metadata, timeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR, let md = metadata else { return nil }
            defer { rd_kafka_metadata_destroy(md) }
            var counts: [String: Int] = [:]
            for i in 0..<Int(md.pointee.topic_cnt) {
                let t = md.pointee.topics[i]
                if t.err == RD_KAFKA_RESP_ERR_NO_ERROR { counts[String(cString: t.topic)] = Int(t.partition_cnt) }
            }
            return counts
        }
    }

    /// Blocking; runs on the handle's queue.
    private static func createTopics(rk: OpaquePointer, topics: [String], partitions: Int, replication: Int, timeoutMs: Int32) throws -> [(String, rd_kafka_resp_err_t, String)] {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
        for name in topics {
            guard let t = rd_kafka_NewTopic_new(name, Int32(partitions), Int32(replication), &errstr, errstr.count) else {
                throw KafkaError.configuration("topic \(name): \(errstr.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })")
            }
            newTopics.append(t)
        }
        let queue = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(queue) }
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, &errstr, errstr.count)
        newTopics.withUnsafeMutableBufferPointer { buf in
            rd_kafka_CreateTopics(rk, buf.baseAddress, buf.count, options, queue)
        }
        guard let event = rd_kafka_queue_poll(queue, timeoutMs + 1000) else {
            throw KafkaError(code: .timedOut, message: "CreateTopics \(topics.joined(separator: ", ")) got no answer within \(timeoutMs) ms", isRetriable: true)
        }
        defer { rd_kafka_event_destroy(event) }
        let eventErr = rd_kafka_event_error(event)
        if eventErr != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(eventErr, context: "CreateTopics \(topics.joined(separator: ", ")): \(rd_kafka_event_error_string(event).map { String(cString: $0) } ?? "")")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(code: .invalidArgument, message: "CreateTopics returned no result", isRetriable: false)
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return [] }
        return (0..<count).map { i in
            let r = results[i]
            return (String(cString: rd_kafka_topic_result_name(r)), rd_kafka_topic_result_error(r), rd_kafka_topic_result_error_string(r).map { String(cString: $0) } ?? "")
        }
    }
}
