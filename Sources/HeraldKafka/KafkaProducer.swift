internal import CRdKafka
import Dispatch
import Foundation
import HeraldCore
import Logging
import ServiceLifecycle
import Synchronization

/// An idempotent, keyed Kafka producer whose `send` returns once the broker has
/// acknowledged the record.
///
/// Run it in a `ServiceGroup` after everything that sends through it: on graceful
/// shutdown it flushes outstanding records (bounded by `flushTimeout`), then closes.
public final class KafkaProducer: Service, Sendable {
    private let handle: RDKafkaHandle
    private let deliveries: DeliveryRegistry
    private let configuration: KafkaProducerConfiguration
    private let logger: Logger
    private let state = Mutex(State.running)
    private let pollThread: PollThread

    enum State { case running, flushing, closed }

    /// Connects lazily: creating a producer does not wait for the broker.
    /// - Throws: `KafkaError` with code `.configuration` for a refused property.
    public init(configuration: KafkaProducerConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let deliveries = DeliveryRegistry()
        let conf = try RDKafkaConfig.make(configuration.properties)
        rd_kafka_conf_set_dr_msg_cb(conf, producerDeliveryCallback)
        RDKafkaHandle.installLogging(conf)
        // The registry outlives the handle: rd_kafka_destroy runs before it is released.
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(deliveries).toOpaque())
        let rk = try RDKafkaConfig.makeHandle(type: RD_KAFKA_PRODUCER, conf: conf)
        self.deliveries = deliveries
        self.handle = RDKafkaHandle(rk, logger: logger, callbackContext: deliveries)
        self.pollThread = PollThread(name: "kafka.producer.poll") { [handle] in
            rd_kafka_poll(handle.rk, 50)
        }
        pollThread.start()
    }

    /// Sends one record keyed by `key` to `topic` and waits until the broker acknowledged it.
    ///
    /// Waits (without blocking a thread) while librdkafka's queue is full.
    /// - Throws: `KafkaError` when the record cannot be delivered within `messageTimeout`
    ///   or the producer is shutting down.
    public func send(topic: String, key: String?, value: [UInt8], headers: [KafkaHeader] = []) async throws -> KafkaDeliveryReport {
        let deadline = ContinuousClock.now + configuration.messageTimeout
        while true {
            do {
                return try await sendOnce(topic: topic, key: key, value: value, headers: headers)
            } catch let error as KafkaError where error.code == .queueFull && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(2))
            }
        }
    }

    private func sendOnce(topic: String, key: String?, value: [UInt8], headers: [KafkaHeader]) async throws -> KafkaDeliveryReport {
        guard state.withLock({ $0 }) != .closed else { throw KafkaError.shuttingDown }
        return try await withCheckedThrowingContinuation { continuation in
            let id = deliveries.register(continuation, topic: topic)
            let err = produce(topic: topic, key: key, value: value, headers: headers, opaque: id)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                deliveries.fail(id, KafkaError(err, context: "produce to \(topic)"))
            }
        }
    }

    /// Enqueues without waiting: a C call that returns at once (no RD_KAFKA_MSG_F_BLOCK).
    private func produce(topic: String, key: String?, value: [UInt8], headers: [KafkaHeader], opaque: UInt) -> rd_kafka_resp_err_t {
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
                    herald_rd_kafka_produce(handle.rk, topic, RD_KAFKA_PARTITION_UA, k.baseAddress, k.count, v.baseAddress, v.count, hdrs, UnsafeMutableRawPointer(bitPattern: opaque))
                }
            }
            return herald_rd_kafka_produce(handle.rk, topic, RD_KAFKA_PARTITION_UA, nil, 0, v.baseAddress, v.count, hdrs, UnsafeMutableRawPointer(bitPattern: opaque))
        }
        // On success librdkafka owns the headers; on failure they are still ours.
        if err != RD_KAFKA_RESP_ERR_NO_ERROR, let hdrs { rd_kafka_headers_destroy(hdrs) }
        return err
    }

    /// Records sent but not yet acknowledged.
    public var outstanding: Int { deliveries.count }

    /// Asks the broker for metadata: true when a broker answered within `timeout`.
    public func isReachable(timeout: Duration = .seconds(1)) async -> Bool {
        await handle.isReachable(timeout: timeout)
    }

    /// Waits for graceful shutdown, then flushes outstanding records and closes.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Flushes outstanding records (bounded by `flushTimeout`) and closes. Idempotent.
    public func close() async {
        let shouldClose = state.withLock { s -> Bool in
            guard s == .running else { return false }
            s = .flushing
            return true
        }
        guard shouldClose else { return }
        let timeoutMs = Int32(clamping: configuration.flushTimeout.milliseconds)
        let remaining = await handle.queue.run { [handle] in
            _ = rd_kafka_flush(handle.rk, timeoutMs)
            return Int(rd_kafka_outq_len(handle.rk))
        }
        if remaining > 0 {
            logger.error("kafka.producer flush timed out", metadata: [LogKeys.outstanding: "\(remaining)"])
        }
        state.withLock { $0 = .closed }
        await handle.queue.run { [pollThread] in pollThread.stop() }
        deliveries.failAll(KafkaError.shuttingDown)
    }
}

// MARK: - Delivery reports

/// Continuations of records awaiting a delivery report, by the id passed to
/// librdkafka as the record's opaque.
final class DeliveryRegistry: Sendable {
    private struct Pending {
        var continuation: CheckedContinuation<KafkaDeliveryReport, any Error>
        var topic: String
    }

    private let state = Mutex<(next: UInt, pending: [UInt: Pending])>((1, [:]))

    func register(_ c: CheckedContinuation<KafkaDeliveryReport, any Error>, topic: String) -> UInt {
        state.withLock { s in
            let id = s.next
            s.next &+= 1
            if s.next == 0 { s.next = 1 }
            s.pending[id] = Pending(continuation: c, topic: topic)
            return id
        }
    }

    var count: Int { state.withLock { $0.pending.count } }

    func fail(_ id: UInt, _ error: KafkaError) {
        state.withLock { $0.pending.removeValue(forKey: id) }?.continuation.resume(throwing: error)
    }

    func complete(_ id: UInt, err: rd_kafka_resp_err_t, partition: Int32, offset: Int64) {
        guard let p = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            p.continuation.resume(returning: KafkaDeliveryReport(topic: p.topic, partition: Int(partition), offset: offset))
        } else {
            p.continuation.resume(throwing: KafkaError(err, context: "delivery to \(p.topic)"))
        }
    }

    func failAll(_ error: KafkaError) {
        let all = state.withLock { s in
            defer { s.pending.removeAll() }
            return Array(s.pending.values)
        }
        for p in all { p.continuation.resume(throwing: error) }
    }
}

/// librdkafka's delivery report callback; runs on the thread that calls `rd_kafka_poll`.
private let producerDeliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let opaque else { return }
    let registry = Unmanaged<DeliveryRegistry>.fromOpaque(opaque).takeUnretainedValue()
    let id = UInt(bitPattern: message.pointee._private)
    registry.complete(id, err: message.pointee.err, partition: message.pointee.partition, offset: message.pointee.offset)
}
