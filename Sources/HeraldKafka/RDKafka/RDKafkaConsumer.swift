internal import CRdKafka
import Foundation
import HeraldCore
import Logging
import Prometheus
import Synchronization

// The consumer's librdkafka calls: creating the handle with its callbacks,
// subscribing, polling, seeking, storing offsets, lag and the final commit.
// `KafkaConsumer` holds the failure policy and calls these; nothing outside this
// folder calls `rd_kafka_*`.

extension RDKafkaHandle {
    /// A consumer handle whose rebalance and error callbacks reach `core`.
    /// - Throws: `KafkaError.configuration` naming a refused property.
    static func consumer(properties: [String: String], core: ConsumerCore, logger: Logger, topicPrefix: String = "") throws -> RDKafkaHandle {
        let conf = try RDKafkaConfig.make(properties)
        rd_kafka_conf_set_rebalance_cb(conf, consumerRebalanceCallback)
        rd_kafka_conf_set_error_cb(conf, consumerErrorCallback)
        installLogging(conf)
        // `core` outlives the handle: the handle keeps it as its callback context
        // and releases it only after `rd_kafka_destroy`.
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(core).toOpaque())
        let rk = try RDKafkaConfig.makeHandle(type: RD_KAFKA_CONSUMER, conf: conf)
        rd_kafka_poll_set_consumer(rk)
        return RDKafkaHandle(rk, logger: logger, callbackContext: core, topicPrefix: topicPrefix)
    }

    /// Joins the group for `topics` (non-blocking; the assignment comes by callback).
    func subscribe(_ topics: [String]) throws {
        let list = RDKafkaPartitionList.make(
            topics.map { (TopicPartition(topic: $0, partition: Int(RD_KAFKA_PARTITION_UA)), Int64(RD_KAFKA_OFFSET_INVALID)) }, prefix: topicPrefix)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_subscribe(rk, list)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, context: "subscribe") }
    }

    /// Seeks each partition to its offset (blocking, up to 5 s: run it on `queue`).
    /// - Returns: librdkafka's reason when it refused, else nil.
    func seek(_ targets: [TopicPartition: Int64]) -> String? {
        let list = RDKafkaPartitionList.make(targets.map { ($0.key, $0.value) }, prefix: topicPrefix)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        guard let e = rd_kafka_seek_partitions(rk, list, 5000) else { return nil }
        defer { rd_kafka_error_destroy(e) }
        return String(cString: rd_kafka_error_string(e))
    }

    /// Stores (does not commit) the next offset of each partition; non-blocking.
    func storeOffsets(_ next: [TopicPartition: Int64]) -> KafkaError? {
        let list = RDKafkaPartitionList.make(next.map { ($0.key, $0.value) }, prefix: topicPrefix)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let err = rd_kafka_offsets_store(rk, list)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err)
    }

    /// Commits the stored offsets and leaves the group (blocking: run it on `queue`).
    /// - Returns: the commit's error, when there was one other than "nothing stored".
    func commitAndClose() -> KafkaError? {
        let err = rd_kafka_commit(rk, nil, 0)
        _ = rd_kafka_consumer_close(rk)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET ? nil : KafkaError(err)
    }
}

// MARK: - Polling and lag (on the consumer's queue)

extension ConsumerCore {
    func pollBatch(_ handle: RDKafkaHandle, firstTimeoutMs: Int32, max: Int) -> [KafkaRecord] {
        let rk = handle.rk
        var batch: [KafkaRecord] = []
        var timeout = firstTimeoutMs
        while batch.count < max, let message = rd_kafka_consumer_poll(rk, timeout) {
            timeout = 0
            defer { rd_kafka_message_destroy(message) }
            let m = message.pointee
            if m.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                handleError(rk: rk, message: message)
                continue
            }
            batch.append(Self.record(message, prefix: topicPrefix))
        }
        trust.withLock { $0.polled(at: .now) }
        return batch
    }

    static func record(_ message: UnsafeMutablePointer<rd_kafka_message_t>, prefix: String = "") -> KafkaRecord {
        let m = message.pointee
        let topic = logical(String(cString: rd_kafka_topic_name(m.rkt)), prefix: prefix)
        let value = m.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: m.len)) } ?? []
        let key = m.key.map { Array(UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var headers: [KafkaHeader] = []
        var hdrs: OpaquePointer? = nil
        if rd_kafka_message_headers(message, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs {
            var i = 0
            var name: UnsafePointer<CChar>? = nil
            var val: UnsafeRawPointer? = nil
            var size = 0
            while rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let bytes = val.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
                i += 1
            }
        }
        var tstype = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ts = rd_kafka_message_timestamp(message, &tstype)
        return KafkaRecord(topic: topic, partition: Int(m.partition), offset: m.offset, key: key, value: value, headers: headers, timestamp: ts)
    }

    private func handleError(rk: OpaquePointer, message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let m = message.pointee
        let topic = m.rkt.map { logical(String(cString: rd_kafka_topic_name($0)), prefix: topicPrefix) } ?? ""
        if m.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || m.err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE {
            offsetOutOfRange(rk: rk, tp: TopicPartition(topic: topic, partition: Int(m.partition)))
            return
        }
        errors.increment()
        let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
        logger.warning("kafka.consumer error", metadata: [LogKeys.error: "\(KafkaError(m.err)): \(text)", LogKeys.topic: "\(topic)"])
    }

    /// Logs and counts the loss, then resumes at the earliest retained record.
    private func offsetOutOfRange(rk: OpaquePointer, tp: TopicPartition) {
        outOfRange.increment()
        var low: Int64 = -1
        var high: Int64 = -1
        _ = rd_kafka_query_watermark_offsets(rk, topicPrefix + tp.topic, Int32(tp.partition), &low, &high, 5000)
        let list = RDKafkaPartitionList.make([(tp, Int64(RD_KAFKA_OFFSET_INVALID))], prefix: topicPrefix)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = rd_kafka_committed(rk, list, 5000)
        let committed = list.pointee.elems[0].offset
        let lost = committed >= 0 && low >= 0 ? max(0, low - committed) : -1
        logger.error(
            "kafka.consumer OFFSET_OUT_OF_RANGE: records were deleted by retention before this group read them; resuming at the earliest retained record",
            metadata: [
                LogKeys.topic: "\(tp.topic)", LogKeys.partition: "\(tp.partition)", LogKeys.offset: "\(committed)", "kafka.low_watermark": "\(low)",
                LogKeys.lost: "\(lost)",
            ])
        list.pointee.elems[0].offset = low >= 0 ? low : Int64(RD_KAFKA_OFFSET_BEGINNING)
        // After the reset error librdkafka stops fetching the partition and a seek does
        // not restart it; re-assigning it at the new offset does (ownership unchanged).
        if let e = rd_kafka_incremental_unassign(rk, list) { rd_kafka_error_destroy(e) }
        if let e = rd_kafka_incremental_assign(rk, list) {
            logger.error("kafka.consumer could not resume after OFFSET_OUT_OF_RANGE", metadata: [LogKeys.error: "\(String(cString: rd_kafka_error_string(e)))"])
            rd_kafka_error_destroy(e)
        }
    }

    func updateLag(_ handle: RDKafkaHandle) {
        let rk = handle.rk
        let tps = assignment.sorted()
        guard !tps.isEmpty else { return }
        let list = RDKafkaPartitionList.make(tps.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }, prefix: topicPrefix)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        // From the group's committed offsets, not this process's fetch position:
        // records fetched but not yet handled and committed are still work to do
        // (a crash would read them again), and an autoscaler must see them. A
        // broker round trip, on the consumer's own queue, every lag interval.
        guard rd_kafka_committed(rk, list, 2_000) == RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        for (tp, position) in RDKafkaPartitionList.topicPartitions(list, prefix: topicPrefix) {
            var low: Int64 = -1
            var high: Int64 = -1
            guard rd_kafka_get_watermark_offsets(rk, topicPrefix + tp.topic, Int32(tp.partition), &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else {
                continue
            }
            let lag = position >= 0 ? max(0, high - position) : max(0, high - max(low, 0))
            gauge(for: tp).set(Double(lag))
        }
    }
}

// MARK: - C callbacks (run inside rd_kafka_consumer_poll on the consumer's queue)

private let consumerRebalanceCallback:
    @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?) -> Void = {
        rk, err, partitions, opaque in
        guard let rk, let partitions, let opaque else { return }
        let core = Unmanaged<ConsumerCore>.fromOpaque(opaque).takeUnretainedValue()
        let cooperative = String(cString: rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE"
        let tps = RDKafkaPartitionList.topicPartitions(partitions, prefix: core.topicPrefix).map(\.0)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            // Partitions this group never committed start at the beginning; the others
            // resume at their committed offset. (auto.offset.reset=error makes a later
            // out-of-range loud instead of silently skipping.)
            if rd_kafka_committed(rk, partitions, 10_000) == RD_KAFKA_RESP_ERR_NO_ERROR {
                for i in 0..<Int(partitions.pointee.cnt) where partitions.pointee.elems[i].offset < 0 {
                    partitions.pointee.elems[i].offset = Int64(RD_KAFKA_OFFSET_BEGINNING)
                }
            } else {
                core.logger.warning("kafka.consumer could not read committed offsets; assigning with stored positions")
            }
            if cooperative {
                if let e = rd_kafka_incremental_assign(rk, partitions) {
                    core.logger.error("kafka.consumer incremental_assign failed: \(String(cString: rd_kafka_error_string(e)))")
                    rd_kafka_error_destroy(e)
                }
            } else {
                _ = rd_kafka_assign(rk, partitions)
            }
            core.assigned(tps)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            // Commit what was stored before the partitions move, so the next owner
            // re-reads as little as possible.
            _ = rd_kafka_commit(rk, nil, 0)
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, partitions) {
                    rd_kafka_error_destroy(e)
                }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            core.revoked(tps)
        default:
            core.logger.error("kafka.consumer rebalance error: \(KafkaError(err))")
            if cooperative {
                if let e = rd_kafka_incremental_unassign(rk, partitions) { rd_kafka_error_destroy(e) }
            } else {
                _ = rd_kafka_assign(rk, nil)
            }
            core.revoked(tps)
        }
    }

private let consumerErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    _, err, reason, opaque in
    guard let opaque else { return }
    let core = Unmanaged<ConsumerCore>.fromOpaque(opaque).takeUnretainedValue()
    core.errors.increment()
    core.logger.warning(
        "kafka.consumer client error", metadata: [LogKeys.error: "\(KafkaError(rd_kafka_resp_err_t(err))): \(reason.map { String(cString: $0) } ?? "")"])
}
