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
    /// Refused for good: the event, written, is this many bytes — over `maxEventBytes`.
    case tooLarge(Int)
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
///
/// Dedupe keys carry the contact's shard as a hash tag (`herald:dedupe:{17}:<id>`),
/// so the claims of one shard run as one Lua script (one command for many ids, and
/// valid on a Redis Cluster); an event id is therefore unique per contact shard.
public struct EventIntake: Sendable {
    let redis: RedisPool
    let producer: KafkaProducer
    let partitions: Int
    let dedupeWindow: Duration
    let pendingTTL: Duration
    /// The largest event, written as on `herald.events`. Whatever is accepted must
    /// be producible with every record derived from it (the journey command that
    /// wraps it, the send that copies its properties) under librdkafka's
    /// `message.max.bytes` (1,000,000): an accepted event too large for its own
    /// journey command once blocked its partition for good.
    public static let maxEventBytes = 512 * 1024
    let maxEventBytes: Int
    let logger: Logger
    let accepted: Counter
    let duplicates: Counter
    let failures: Counter

    /// An intake over these dependencies.
    public init(
        redis: RedisPool, producer: KafkaProducer, partitions: Int, dedupeWindow: Duration, messageTimeout: Duration,
        maxEventBytes: Int = EventIntake.maxEventBytes,
        metrics: PrometheusCollectorRegistry, source: String, logger: Logger
    ) {
        self.redis = redis
        self.maxEventBytes = maxEventBytes
        self.producer = producer
        self.partitions = partitions
        self.dedupeWindow = dedupeWindow
        self.pendingTTL = messageTimeout + .seconds(10)
        self.logger = logger
        let labels = [("worker", "ingestor"), ("source", source)]
        accepted = metrics.makeCounter(
            descriptor: .init(metricName: "herald_ingest_events_accepted", unitName: "total", helpText: "Events produced to herald.events"), labels: labels)
        duplicates = metrics.makeCounter(
            descriptor: .init(metricName: "herald_ingest_events_duplicate", unitName: "total", helpText: "Events acknowledged but not produced again"),
            labels: labels)
        failures = metrics.makeCounter(
            descriptor: .init(
                metricName: "herald_ingest_events_failed", unitName: "total", helpText: "Events not accepted because Kafka or Redis failed (caller retries)"),
            labels: labels)
    }

    func dedupeKey(_ event: Event) -> String {
        "herald:dedupe:\(Shard.hashTag(Shard.of(event.contactId, partitions: partitions))):\(event.id)"
    }

    /// Claims ids as pending unless present: per key 0 = claimed, 1 = done (duplicate), 2 = pending elsewhere.
    static let claimScript = RedisScript(name: "dedupe_claim", source: LuaSource.dedupeClaim)

    /// Marks produced ids done for the window (ARGV[i+1] = '1') and frees failed claims ('0').
    static let finishScript = RedisScript(name: "dedupe_finish", source: LuaSource.dedupeFinish)

    /// Runs `script` once per shard over the given event indices, all in one round trip.
    private func runPerShard(_ script: RedisScript, _ indices: [Int], events: [Event], firstArgument: String, perKey: (Int) -> String?) async throws -> [Int:
        RedisValue]
    {
        var byShard: [Int: [Int]] = [:]
        for i in indices { byShard[Shard.of(events[i].contactId, partitions: partitions), default: []].append(i) }
        let groups = byShard.sorted { $0.key < $1.key }.map(\.value)
        let replies = try await redis.evalMany(
            script,
            calls: groups.map { group in
                (keys: group.map { dedupeKey(events[$0]) }, arguments: [firstArgument] + group.compactMap(perKey))
            })
        var result: [Int: RedisValue] = [:]
        for (group, reply) in zip(groups, replies) {
            if case .error(let message) = reply { throw RedisError(code: .server, message: message) }
            let values = reply.array ?? []
            for (n, i) in group.enumerated() { result[i] = n < values.count ? values[n] : reply }
        }
        return result
    }

    /// Accepts `events`; the outcome of each is at the same index.
    ///
    /// - Throws: `RedisError` when the dedupe store is unreachable (nothing was produced).
    public func accept(_ events: [Event]) async throws -> [IntakeOutcome] {
        guard !events.isEmpty else { return [] }
        var outcomes = [IntakeOutcome?](repeating: nil, count: events.count)
        // Duplicates inside the batch: only the first occurrence goes on. "The
        // same" is what the Redis claim says is the same — the dedupe key (shard
        // and id) — so a batch and two requests never disagree (docs/events.md).
        var firstIndex: [String: Int] = [:]
        var candidates: [Int] = []
        // Written once here, checked against the limit, and produced as is.
        var written = [[UInt8]](repeating: [], count: events.count)
        for (i, e) in events.enumerated() {
            let key = dedupeKey(e)
            if firstIndex[key] != nil { outcomes[i] = .duplicate; continue }
            firstIndex[key] = i
            written[i] = e.encoded()
            if written[i].count > maxEventBytes { outcomes[i] = .tooLarge(written[i].count); continue }
            candidates.append(i)
        }
        let claims = try await runPerShard(Self.claimScript, candidates, events: events, firstArgument: String(pendingTTL.milliseconds)) { _ in nil }
        var toProduce: [Int] = []
        for i in candidates {
            switch claims[i]?.int {
            case 0?: toProduce.append(i)
            case 1?: outcomes[i] = .duplicate
            case 2?: outcomes[i] = .retry("an event with this id is being accepted by another request")
            default: outcomes[i] = .retry("unexpected dedupe reply")
            }
        }
        // One batch: each record is acknowledged (or failed) individually.
        let reports = await producer.send(
            toProduce.map {
                KafkaOutgoingRecord(topic: Topics.events, key: events[$0].contactId, value: written[$0])
            })
        let results: [(Int, String?)] = zip(toProduce, reports).map { i, report in
            switch report {
            case .success: (i, nil)
            case .failure(let error): (i, "\(error)")
            }
        }
        var produced: Set<Int> = []
        for (i, failure) in results {
            if let failure {
                outcomes[i] = .retry("Kafka did not acknowledge the event: \(failure)")
            } else {
                outcomes[i] = .accepted
                produced.insert(i)
            }
        }
        do {
            _ = try await runPerShard(Self.finishScript, results.map(\.0), events: events, firstArgument: String(dedupeWindow.milliseconds)) {
                produced.contains($0) ? "1" : "0"
            }
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
            case .retry, .tooLarge: f += 1
            }
        }
        accepted.increment(by: Int64(a))
        duplicates.increment(by: Int64(d))
        failures.increment(by: Int64(f))
        return final
    }
}
