import HeraldCore
import Logging
import Prometheus

/// Puts records that cannot be processed in `herald.dlq`, unchanged (same key
/// and bytes), with where they came from and why in headers (`KafkaRecord.deadLettered`),
/// and counts them in `herald_dlq_records_total{worker,topic,reason}`.
///
/// Every worker dead-letters through this one type, so `heraldctl dlq` reads and
/// replays whatever wrote to the topic.
public struct DeadLetterQueue: Sendable {
    /// Why a record was dead-lettered: the metric's `reason` label (kept small;
    /// the full reason is in the record's `herald.error.reason` header).
    public enum Reason: String, Sendable {
        /// Not a record of the topic's format at all.
        case undecodable
        /// Well-formed but refused by validation (an invalid event).
        case invalid
        /// Its processing kept failing (`kafka.max_attempts` times), not for an outage.
        case failed
    }

    let producer: KafkaProducer
    let counters: @Sendable (String, Reason) -> Counter
    let logger: Logger

    public init(producer: KafkaProducer, metrics: PrometheusCollectorRegistry, worker: String, logger: Logger) {
        self.producer = producer
        self.logger = logger
        self.counters = { topic, reason in
            metrics.makeCounter(
                descriptor: .init(metricName: "herald_dlq_records", unitName: "total", helpText: "Records moved to herald.dlq, by source topic and reason"),
                labels: [("worker", worker), ("topic", topic), ("reason", reason.rawValue)])
        }
    }

    /// Dead-letters `records`, each with its own field and message.
    /// - Throws: `KafkaError` when the dead letters were not acknowledged (an
    ///   outage: the caller must not treat the records as handled).
    public func send(_ records: [(record: KafkaRecord, reason: Reason, field: String, message: String)]) async throws {
        guard !records.isEmpty else { return }
        let outgoing = records.map { $0.record.deadLettered(to: Topics.dlq, field: $0.field, reason: $0.message) }
        for case .failure(let error) in await producer.send(outgoing) { throw error }
        for r in records {
            counters(r.record.topic, r.reason).increment()
            logger.warning("record moved to herald.dlq", metadata: [
                "kafka.topic": "\(r.record.topic)", "kafka.partition": "\(r.record.partition)", "kafka.offset": "\(r.record.offset)",
                "herald.reason": "\(r.reason.rawValue)", "herald.error": "\(r.message)",
            ])
        }
    }

    /// One record.
    public func send(_ record: KafkaRecord, reason: Reason, field: String = "", message: String) async throws {
        try await send([(record, reason, field, message)])
    }
}
