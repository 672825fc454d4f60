import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import Prometheus

/// What happened to one event handed to `EventIntake`.
public enum IntakeOutcome: Sendable, Hashable {
    /// Produced to `herald.events` and acknowledged by Kafka.
    case accepted
    /// Seen before within the dedupe window (or earlier in the same batch); not produced again.
    case duplicate
    /// Not accepted this time; the producer should retry (nothing was recorded).
    case retry(String)
}

/// Accepts validated events: deduplicates them by id in Redis and produces the new
/// ones to `herald.events`, keyed by contact id. Shared by the HTTP API and the
/// `herald.events.raw` consumer.
///
/// Dedupe is two-phase so an accepted event is never lost: an id is first claimed
/// as *pending* (`SET NX` with a TTL longer than Kafka's delivery timeout), then
/// marked *done* for the dedupe window only after Kafka acknowledged it. A failed
/// produce deletes the claim, so a retry is produced. A crash between claim and
/// acknowledgement leaves a pending claim that expires; until then a retry of that
/// id is answered "retry" rather than "duplicate".
public struct EventIntake: Sendable {
    let redis: RedisPool
    let producer: KafkaProducer
    let dedupeWindow: Duration
    let pendingTTL: Duration
    let logger: Logger
    let accepted: Counter
    let duplicates: Counter
    let failures: Counter

    public init(redis: RedisPool, producer: KafkaProducer, dedupeWindow: Duration, messageTimeout: Duration, metrics: PrometheusCollectorRegistry, source: String, logger: Logger) {
        self.redis = redis
        self.producer = producer
        self.dedupeWindow = dedupeWindow
        self.pendingTTL = messageTimeout + .seconds(10)
        self.logger = logger
        let labels = [("worker", "ingestor"), ("source", source)]
        accepted = metrics.makeCounter(descriptor: .init(metricName: "herald_ingest_events_accepted", unitName: "total", helpText: "Events produced to herald.events"), labels: labels)
        duplicates = metrics.makeCounter(descriptor: .init(metricName: "herald_ingest_events_duplicate", unitName: "total", helpText: "Events acknowledged but not produced again"), labels: labels)
        failures = metrics.makeCounter(descriptor: .init(metricName: "herald_ingest_events_failed", unitName: "total", helpText: "Events not accepted because Kafka or Redis failed (caller retries)"), labels: labels)
    }

    static func dedupeKey(_ id: String) -> String { "herald:dedupe:event:\(id)" }

    /// Accepts `events`; the outcome of each is at the same index.
    ///
    /// - Throws: `RedisError` when the dedupe store is unreachable (nothing was produced).
    public func accept(_ events: [Event]) async throws -> [IntakeOutcome] {
        guard !events.isEmpty else { return [] }
        var outcomes = [IntakeOutcome?](repeating: nil, count: events.count)
        // Duplicates inside the batch: only the first occurrence goes on.
        var firstIndex: [String: Int] = [:]
        var candidates: [Int] = []
        for (i, e) in events.enumerated() {
            if firstIndex[e.id] != nil { outcomes[i] = .duplicate } else {
                firstIndex[e.id] = i
                candidates.append(i)
            }
        }
        let pendingMs = String(pendingTTL.milliseconds)
        let claims = try await redis.pipeline(candidates.map { ["SET", Self.dedupeKey(events[$0].id), "pending", "NX", "PX", pendingMs, "GET"] })
        var toProduce: [Int] = []
        for (n, i) in candidates.enumerated() {
            switch claims[n] {
            case .null: toProduce.append(i)  // claimed by us
            case .bulk(let b) where b == Array("done".utf8): outcomes[i] = .duplicate
            case .bulk: outcomes[i] = .retry("an event with this id is being accepted by another request")
            case .error(let message): throw RedisError(code: .server, message: message)
            default: outcomes[i] = .retry("unexpected dedupe reply")
            }
        }
        // One batch: each record is acknowledged (or failed) individually.
        let reports = await producer.send(toProduce.map {
            KafkaOutgoingRecord(topic: Topics.events, key: events[$0].contactId, value: events[$0].serialized())
        })
        let results: [(Int, String?)] = zip(toProduce, reports).map { i, report in
            switch report {
            case .success: (i, nil)
            case .failure(let error): (i, "\(error)")
            }
        }
        let windowMs = String(dedupeWindow.milliseconds)
        var finish: [[String]] = []
        for (i, failure) in results {
            let key = Self.dedupeKey(events[i].id)
            if let failure {
                outcomes[i] = .retry("Kafka did not acknowledge the event: \(failure)")
                finish.append(["DEL", key])
            } else {
                outcomes[i] = .accepted
                finish.append(["SET", key, "done", "PX", windowMs])
            }
        }
        do {
            _ = try await redis.pipeline(finish)
        } catch {
            // Produced events stay produced; their pending claims expire, after which
            // a retry could produce a duplicate (at-least-once). Failed claims expire too.
            logger.warning("ingest could not record dedupe state", metadata: ["redis.error": "\(error)"])
        }
        let final = outcomes.map { $0 ?? .retry("not processed") }
        var a = 0, d = 0, f = 0
        for o in final {
            switch o {
            case .accepted: a += 1
            case .duplicate: d += 1
            case .retry: f += 1
            }
        }
        accepted.increment(by: Int64(a))
        duplicates.increment(by: Int64(d))
        failures.increment(by: Int64(f))
        return final
    }
}
