internal import CRdKafka

/// Builds a librdkafka configuration object from string properties.
enum RDKafkaConfig {
    /// - Returns: a `rd_kafka_conf_t*` the caller hands to `rd_kafka_new` (which takes ownership).
    /// - Throws: `KafkaError.configuration` naming the property librdkafka refused.
    static func make(_ properties: [String: String]) throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError.configuration("rd_kafka_conf_new failed") }
        var errstr = [CChar](repeating: 0, count: 512)
        for (key, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
            if result != RD_KAFKA_CONF_OK {
                rd_kafka_conf_destroy(conf)
                let reason = errstr.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                throw KafkaError.configuration("librdkafka property '\(key)' = '\(value)': \(reason)")
            }
        }
        return conf
    }

    /// Creates a client handle of `type` from a finished configuration.
    static func makeHandle(type: rd_kafka_type_t, conf: OpaquePointer) throws -> OpaquePointer {
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            let reason = errstr.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw KafkaError.configuration("rd_kafka_new: \(reason)")
        }
        return rk
    }
}

/// Helpers over `rd_kafka_topic_partition_list_t`.
enum RDKafkaPartitionList {
    /// The list's entries, each topic without `prefix` (`RDKafkaHandle.topicPrefix`).
    static func topicPartitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>, prefix: String = "") -> [(TopicPartition, Int64)] {
        var result: [(TopicPartition, Int64)] = []
        let count = Int(list.pointee.cnt)
        result.reserveCapacity(count)
        for i in 0..<count {
            let e = list.pointee.elems[i]
            result.append((TopicPartition(topic: logical(String(cString: e.topic), prefix: prefix), partition: Int(e.partition)), e.offset))
        }
        return result
    }

    /// A list of these entries, each topic with `prefix` before it.
    static func make(_ items: [(TopicPartition, Int64)], prefix: String = "") -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t> {
        let list = rd_kafka_topic_partition_list_new(Int32(max(1, items.count)))!
        for (tp, offset) in items {
            let e = rd_kafka_topic_partition_list_add(list, prefix + tp.topic, Int32(tp.partition))!
            e.pointee.offset = offset
        }
        return list
    }
}

/// `name` as Herald names it: without `prefix` (a topic outside the prefix stays as it is).
func logical(_ name: String, prefix: String) -> String {
    !prefix.isEmpty && name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name
}
