internal import CRdKafka
import Logging

// The administration calls: metadata (partition counts) and CreateTopics. Both
// block; callers run them on the handle's queue.

extension RDKafkaHandle {
    /// A handle for administration (a producer that never produces).
    /// - Throws: `KafkaError.configuration` naming a refused property.
    static func admin(properties: [String: String], logger: Logger, topicPrefix: String = "") throws -> RDKafkaHandle {
        let conf = try RDKafkaConfig.make(properties)
        installLogging(conf)
        return RDKafkaHandle(try RDKafkaConfig.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf), logger: logger, topicPrefix: topicPrefix)
    }

    /// Partition counts of every topic the cluster knows under this handle's
    /// prefix (named without it), or nil when no broker answered within
    /// `timeoutMs`. Blocking.
    func partitionCounts(timeoutMs: Int32) -> [String: Int]? {
        var metadata: UnsafePointer<rd_kafka_metadata>? = nil
        guard rd_kafka_metadata(rk, 1, nil, &metadata, timeoutMs) == RD_KAFKA_RESP_ERR_NO_ERROR, let md = metadata else { return nil }
        defer { rd_kafka_metadata_destroy(md) }
        var counts: [String: Int] = [:]
        for i in 0..<Int(md.pointee.topic_cnt) {
            let t = md.pointee.topics[i]
            let name = String(cString: t.topic)
            // Another tenant's topics (outside the prefix) are not ours, whatever their names.
            guard t.err == RD_KAFKA_RESP_ERR_NO_ERROR, name.hasPrefix(topicPrefix) else { continue }
            counts[logical(name, prefix: topicPrefix)] = Int(t.partition_cnt)
        }
        return counts
    }

    /// Creates `topics`; blocking. Each topic's result is nil when it was
    /// created, else the broker's error for it (named by topic).
    /// - Throws: `KafkaError` when the request as a whole failed or timed out.
    func createTopics(_ topics: [String], partitions: Int, replication: Int, timeoutMs: Int32) throws -> [(String, KafkaError?)] {
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
        for name in topics {
            guard let t = rd_kafka_NewTopic_new(wire(name), Int32(partitions), Int32(replication), &errstr, errstr.count) else {
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
            throw KafkaError(
                eventErr, context: "CreateTopics \(topics.joined(separator: ", ")): \(rd_kafka_event_error_string(event).map { String(cString: $0) } ?? "")")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(code: .invalidArgument, message: "CreateTopics returned no result", isRetriable: false)
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return [] }
        return (0..<count).map { i in
            let r = results[i]
            let name = logical(String(cString: rd_kafka_topic_result_name(r)), prefix: topicPrefix)
            let err = rd_kafka_topic_result_error(r)
            guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return (name, nil) }
            let message = rd_kafka_topic_result_error_string(r).map { String(cString: $0) } ?? ""
            return (name, KafkaError(err, context: "create topic \(name): \(message)"))
        }
    }
}
