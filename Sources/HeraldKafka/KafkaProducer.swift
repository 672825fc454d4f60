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
    private let onFailure: (@Sendable (_ topic: String, _ error: KafkaError) -> Void)?

    enum State { case running, flushing, closed }

    /// Connects lazily: creating a producer does not wait for the broker.
    /// - Parameter onFailure: told of each record that could not be delivered (metrics).
    /// - Throws: `KafkaError` with code `.configuration` for a refused property.
    public init(
        configuration: KafkaProducerConfiguration, logger: Logger, onFailure: (@Sendable (_ topic: String, _ error: KafkaError) -> Void)? = nil
    ) throws {
        self.onFailure = onFailure
        self.configuration = configuration
        self.logger = logger
        let deliveries = DeliveryRegistry()
        self.deliveries = deliveries
        self.handle = try RDKafkaHandle.producer(
            properties: configuration.properties, deliveries: deliveries, logger: logger, topicPrefix: configuration.topicPrefix)
        self.pollThread = PollThread(name: "kafka.producer.poll") { [handle] in
            handle.serveDeliveryReports(timeoutMs: 50)
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
            } catch let error as KafkaError {
                onFailure?(topic, error)
                throw error
            }
        }
    }

    private func sendOnce(topic: String, key: String?, value: [UInt8], headers: [KafkaHeader]) async throws -> KafkaDeliveryReport {
        guard state.withLock({ $0 }) != .closed else { throw KafkaError.shuttingDown }
        return try await withCheckedThrowingContinuation { continuation in
            let id = deliveries.register(continuation, topic: topic)
            if let error = handle.produce(topic: topic, key: key, value: value, headers: headers, opaque: id) {
                deliveries.fail(id, error)
            }
        }
    }

    /// Sends many records and waits until the broker acknowledged (or failed) each;
    /// the result of each is at its index.
    ///
    /// Cheaper than one `send` per record: one suspension for the whole batch.
    /// Waits (without blocking a thread) while librdkafka's queue is full.
    public func send(_ records: [KafkaOutgoingRecord]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        guard !records.isEmpty else { return [] }
        let batch = BatchDelivery(count: records.count)
        let deadline = ContinuousClock.now + configuration.messageTimeout
        for (index, record) in records.enumerated() {
            while true {
                if state.withLock({ $0 }) == .closed {
                    batch.complete(index, .failure(KafkaError.shuttingDown))
                    break
                }
                let id = deliveries.register(batch: batch, index: index, topic: record.topic)
                guard let error = handle.produce(topic: record.topic, key: record.key, value: record.value, headers: record.headers, opaque: id) else { break }
                if error.code == .queueFull && ContinuousClock.now < deadline {
                    deliveries.forget(id)
                    try? await Task.sleep(for: .milliseconds(1))
                    continue
                }
                deliveries.fail(id, error)
                break
            }
        }
        let results = await batch.wait()
        if let onFailure {
            for (record, result) in zip(records, results) { if case .failure(let error) = result { onFailure(record.topic, error) } }
        }
        return results
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
        let remaining = await handle.queue.run { [handle] in handle.flush(timeoutMs: timeoutMs) }
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
    private enum Waiter {
        case single(CheckedContinuation<KafkaDeliveryReport, any Error>)
        case batch(BatchDelivery, Int)
    }

    private struct Pending {
        var waiter: Waiter
        var topic: String
    }

    private let state = Mutex<(next: UInt, pending: [UInt: Pending])>((1, [:]))

    private func add(_ p: Pending) -> UInt {
        state.withLock { s in
            let id = s.next
            s.next &+= 1
            if s.next == 0 { s.next = 1 }
            s.pending[id] = p
            return id
        }
    }

    func register(_ c: CheckedContinuation<KafkaDeliveryReport, any Error>, topic: String) -> UInt {
        add(Pending(waiter: .single(c), topic: topic))
    }

    func register(batch: BatchDelivery, index: Int, topic: String) -> UInt {
        add(Pending(waiter: .batch(batch, index), topic: topic))
    }

    var count: Int { state.withLock { $0.pending.count } }

    /// Drops a registration whose record was never enqueued (to be retried).
    func forget(_ id: UInt) {
        _ = state.withLock { $0.pending.removeValue(forKey: id) }
    }

    func fail(_ id: UInt, _ error: KafkaError) {
        guard let p = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        Self.resolve(p, .failure(error))
    }

    /// The broker's answer for record `id`: stored at `partition`/`offset`, or `error`.
    func complete(_ id: UInt, error: KafkaError?, partition: Int, offset: Int64) {
        guard let p = state.withLock({ $0.pending.removeValue(forKey: id) }) else { return }
        if let error {
            Self.resolve(p, .failure(KafkaError(code: error.code, message: "delivery to \(p.topic): \(error.message)", isRetriable: error.isRetriable)))
        } else {
            Self.resolve(p, .success(KafkaDeliveryReport(topic: p.topic, partition: partition, offset: offset)))
        }
    }

    func failAll(_ error: KafkaError) {
        let all = state.withLock { s in
            defer { s.pending.removeAll() }
            return Array(s.pending.values)
        }
        for p in all { Self.resolve(p, .failure(error)) }
    }

    private static func resolve(_ p: Pending, _ result: Result<KafkaDeliveryReport, KafkaError>) {
        switch p.waiter {
        case .single(let c): c.resume(with: result.mapError { $0 as any Error })
        case .batch(let b, let index): b.complete(index, result)
        }
    }
}

/// The results of one `send(_:)` batch; resumes its waiter when the last record is resolved.
final class BatchDelivery: Sendable {
    private struct State {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var remaining: Int
        var waiter: CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count))
    }

    func complete(_ index: Int, _ result: Result<KafkaDeliveryReport, KafkaError>) {
        let resume = state.withLock {
            s -> (CheckedContinuation<[Result<KafkaDeliveryReport, KafkaError>], Never>, [Result<KafkaDeliveryReport, KafkaError>])? in
            guard s.results[index] == nil else { return nil }
            s.results[index] = result
            s.remaining -= 1
            guard s.remaining == 0, let w = s.waiter else { return nil }
            s.waiter = nil
            return (w, s.results.map { $0! })
        }
        if let (w, results) = resume { w.resume(returning: results) }
    }

    func wait() async -> [Result<KafkaDeliveryReport, KafkaError>] {
        await withCheckedContinuation { c in
            let done = state.withLock { s -> [Result<KafkaDeliveryReport, KafkaError>]? in
                if s.remaining == 0 { return s.results.map { $0! } }
                s.waiter = c
                return nil
            }
            if let done { c.resume(returning: done) }
        }
    }
}
