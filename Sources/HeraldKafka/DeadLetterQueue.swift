import HeraldCore
import Logging
import Prometheus

/// Puts records that cannot be processed in `herald.dlq`, unchanged (same key
/// and bytes), with where they came from and why in headers (`DeadLetter`),
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

    /// Dead letters produced with `producer`, counted in `metrics` under `worker`.
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
        let outgoing = records.map { $0.record.deadLetter(field: $0.field, reason: $0.message).outgoing() }
        for case .failure(let error) in await producer.send(outgoing) { throw error }
        for r in records {
            counters(r.record.topic, r.reason).increment()
            logger.warning(
                "record moved to herald.dlq",
                metadata: [
                    "kafka.topic": "\(r.record.topic)", "kafka.partition": "\(r.record.partition)", "kafka.offset": "\(r.record.offset)",
                    "herald.reason": "\(r.reason.rawValue)", "herald.error": "\(r.message)",
                ])
        }
    }

    /// One record.
    public func send(_ record: KafkaRecord, reason: Reason, field: String = "", message: String) async throws {
        try await send([(record, reason, field, message)])
    }

    /// Dead-letters values stored in Redis that cannot be used (a damaged stored
    /// journey; a journey whose wake-ups keep failing), with their bytes, so they
    /// can be inspected and mended before the caller deletes them or their
    /// wake-up. The source is `redis`; where the value was is in
    /// `herald.source.redis_key` and `herald.source.redis_field`. Counted as
    /// `herald_dlq_records_total{topic="redis",reason=…}`.
    /// - Parameter key: the record key in herald.dlq (the contact id, so the dead
    ///   letter sits with that contact's others).
    /// - Throws: `KafkaError` when the dead letters were not acknowledged: the
    ///   caller must then keep the values.
    public func send(stored: [(key: String, redisKey: String, field: String, bytes: [UInt8], message: String)], reason: Reason = .undecodable) async throws {
        guard !stored.isEmpty else { return }
        let outgoing = stored.map {
            DeadLetter(key: $0.key, value: $0.bytes, source: .redis(key: $0.redisKey, field: $0.field), reason: $0.message).outgoing()
        }
        for case .failure(let error) in await producer.send(outgoing) { throw error }
        for s in stored {
            counters(DeadLetter.redisTopic, reason).increment()
            logger.warning(
                "stored value moved to herald.dlq",
                metadata: [
                    "redis.key": "\(s.redisKey)", "redis.field": "\(s.field)", "herald.reason": "\(reason.rawValue)", "herald.error": "\(s.message)",
                ])
        }
    }
}
