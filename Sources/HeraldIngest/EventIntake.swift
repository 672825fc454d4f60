import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import Prometheus
import Synchronization

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
/// id is answered "retry" rather than "duplicate". A claim names its intake
/// (`pending:<token>`): one whose reply was lost (Redis paused or slow past the
/// command timeout, and applying the claim afterwards) is taken back at once by
/// the same intake's retry, since that intake knows it has nothing in flight
/// for the id; before, the retry waited for the claim to expire.
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
    /// This intake's claims' value: `pending:` and a random token.
    let claimant = "pending:" + String(UInt64.random(in: 1...UInt64.max), radix: 16)
    /// Dedupe keys this intake has asked Redis to claim and not yet finished:
    /// only a key outside them may be taken back from an earlier claim of its own.
    let inFlight = InFlightKeys()
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
    private func runPerShard(_ script: RedisScript, _ indices: [Int], events: [Event], leading: [String], perKey: (Int) -> String?) async throws -> [Int:
        RedisValue]
    {
        var byShard: [Int: [Int]] = [:]
        for i in indices { byShard[Shard.of(events[i].contactId, partitions: partitions), default: []].append(i) }
        let groups = byShard.sorted { $0.key < $1.key }.map(\.value)
        let replies = try await redis.evalMany(
            script,
            calls: groups.map { group in
                (keys: group.map { dedupeKey(events[$0]) }, arguments: leading + group.compactMap(perKey))
            })
        var result: [Int: RedisValue] = [:]
        for (group, reply) in zip(groups, replies) {
            if case .error(let message) = reply { throw RedisError(code: .server, message: message) }
            let values = reply.array ?? []
            for (n, i) in group.enumerated() { result[i] = n < values.count ? values[n] : reply }
        }
        return result
    }

    /// Ends this intake's hold on the dedupe keys of `events` at `indices`.
    private func release(_ indices: [Int], of events: [Event]) {
        guard !indices.isEmpty else { return }
        inFlight.keys.withLock { keys in for i in indices { keys.remove(dedupeKey(events[i])) } }
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
        // Keys this intake is already accepting (another request or batch) wait
        // their turn: Redis alone cannot tell this intake's two attempts apart.
        let busy = "an event with this id is being accepted by another request"
        candidates = inFlight.keys.withLock { keys in
            candidates.filter { i in
                if keys.insert(dedupeKey(events[i])).inserted { return true }
                outcomes[i] = .retry(busy)
                return false
            }
        }
        let claims: [Int: RedisValue]
        do {
            claims = try await runPerShard(Self.claimScript, candidates, events: events, leading: [String(pendingTTL.milliseconds), claimant]) { _ in nil }
        } catch {
            // Redis may still apply the claims: this intake's retry takes them back.
            release(candidates, of: events)
            throw error
        }
        var toProduce: [Int] = []
        var notClaimed: [Int] = []
        for i in candidates {
            switch claims[i]?.int {
            case 0?: toProduce.append(i)
            case 1?: outcomes[i] = .duplicate
            case 2?: outcomes[i] = .retry(busy)
            default: outcomes[i] = .retry("unexpected dedupe reply")
            }
            if claims[i]?.int != 0 { notClaimed.append(i) }
        }
        release(notClaimed, of: events)
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
            _ = try await runPerShard(Self.finishScript, results.map(\.0), events: events, leading: [String(dedupeWindow.milliseconds)]) {
                produced.contains($0) ? "1" : "0"
            }
            release(toProduce, of: events)
        } catch {
            // Produced events stay produced; their pending claims expire, after which
            // a retry could produce a duplicate (at-least-once). Until then this
            // intake keeps them as its own, so its retries do not take them back
            // and produce them again sooner. Failed ones it may take back now.
            logger.warning("ingest could not record dedupe state", metadata: ["redis.error": "\(error)"])
            release(toProduce.filter { !produced.contains($0) }, of: events)
            let kept = toProduce.filter(produced.contains), ttl = pendingTTL
            Task {
                try? await Task.sleep(for: ttl)
                release(kept, of: events)
            }
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

/// The dedupe keys an intake holds (`EventIntake.inFlight`), shared by its copies.
final class InFlightKeys: Sendable {
    let keys = Mutex<Set<String>>([])
}
