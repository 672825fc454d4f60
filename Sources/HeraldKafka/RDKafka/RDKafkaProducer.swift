internal import CRdKafka
import Logging

// The producer's librdkafka calls: the handle with its delivery callback,
// enqueueing a record, serving delivery reports, and the final flush.

extension RDKafkaHandle {
    /// A producer handle whose delivery reports resolve the waiters in `deliveries`.
    /// - Throws: `KafkaError.configuration` naming a refused property.
    static func producer(properties: [String: String], deliveries: DeliveryRegistry, logger: Logger, topicPrefix: String = "") throws -> RDKafkaHandle {
        let conf = try RDKafkaConfig.make(properties)
        rd_kafka_conf_set_dr_msg_cb(conf, producerDeliveryCallback)
        installLogging(conf)
        // The registry outlives the handle: the handle keeps it as its callback
        // context and releases it only after `rd_kafka_destroy`.
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(deliveries).toOpaque())
        return RDKafkaHandle(
            try RDKafkaConfig.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf), logger: logger, callbackContext: deliveries, topicPrefix: topicPrefix)
    }

    /// Enqueues without waiting: a C call that returns at once (no RD_KAFKA_MSG_F_BLOCK).
    /// - Returns: nil once enqueued, else why not (`.queueFull` among others).
    func produce(topic: String, key: String?, value: [UInt8], headers: [KafkaHeader], opaque: UInt) -> KafkaError? {
        var hdrs: OpaquePointer? = nil
        if !headers.isEmpty {
            hdrs = rd_kafka_headers_new(headers.count)
            for h in headers {
                _ = h.value.withUnsafeBytes { rd_kafka_header_add(hdrs, h.name, -1, $0.baseAddress, $0.count) }
            }
        }
        let keyBytes = key.map { Array($0.utf8) }
        let err = value.withUnsafeBytes { v in
            if let keyBytes {
                return keyBytes.withUnsafeBytes { k in
                    herald_rd_kafka_produce(
                        rk, wire(topic), RD_KAFKA_PARTITION_UA, k.baseAddress, k.count, v.baseAddress, v.count, hdrs,
                        UnsafeMutableRawPointer(bitPattern: opaque))
                }
            }
            return herald_rd_kafka_produce(
                rk, wire(topic), RD_KAFKA_PARTITION_UA, nil, 0, v.baseAddress, v.count, hdrs, UnsafeMutableRawPointer(bitPattern: opaque))
        }
        // On success librdkafka owns the headers; on failure they are still ours.
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        if let hdrs { rd_kafka_headers_destroy(hdrs) }
        return KafkaError(err, context: "produce to \(topic)")
    }

    /// Serves delivery reports for up to `timeoutMs` (blocking: the poll thread calls it).
    func serveDeliveryReports(timeoutMs: Int32) {
        rd_kafka_poll(rk, timeoutMs)
    }

    /// Waits up to `timeoutMs` for outstanding records; blocking.
    /// - Returns: how many are still not delivered.
    func flush(timeoutMs: Int32) -> Int {
        _ = rd_kafka_flush(rk, timeoutMs)
        return Int(rd_kafka_outq_len(rk))
    }
}

/// librdkafka's delivery report callback; runs on the thread that calls `rd_kafka_poll`.
private let producerDeliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let opaque else { return }
    let registry = Unmanaged<DeliveryRegistry>.fromOpaque(opaque).takeUnretainedValue()
    let id = UInt(bitPattern: message.pointee._private)
    let err = message.pointee.err
    registry.complete(
        id, error: err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : KafkaError(err), partition: Int(message.pointee.partition), offset: message.pointee.offset)
}
