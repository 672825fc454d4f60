import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import ServiceLifecycle
import Synchronization

/// Fires due wake-ups of the shards this process owns (the partitions of
/// `herald.journeys` assigned to it), in due order. Each owned shard has its own
/// loop: it drains what is due in batches, then sleeps `interval` once nothing is.
/// Independent loops keep one busy shard from delaying the others' wake-ups, and
/// one shard's Redis and Kafka round trips overlap another's work.
struct WakeUpPoller: Service {
    let consumer: KafkaConsumer
    let journeys: JourneyStore
    let processor: JourneyProcessor
    let metrics: SchedulerMetrics
    let interval: Duration
    /// Wake-ups per batch (per shard): one load, one Kafka batch and one save each.
    let batchSize = 1000
    /// Failures of one contact's wake-ups (outages not counted) before they go to
    /// herald.dlq (`kafka.max_attempts`, the consumers' policy).
    let maxAttempts: Int
    /// The first pause between a contact's attempts, doubling (at most 10 s).
    var retryBase: Duration = .milliseconds(200)
    let logger: Logger
    /// Where the poller's loops beat (`/healthz`): the assignment loop and each shard's.
    var heartbeats: Heartbeats?

    func owned() -> [Int] {
        consumer.assignment.filter { $0.topic == Topics.journeys }.map(\.partition).sorted()
    }

    func run() async throws {
        let running = ShardSet()
        let heartbeat = heartbeats?.make("wake-up poller")
        await withTaskGroup(of: Void.self) { group in
            var lastGauge = ContinuousClock.now - .seconds(10)  // report at once, then every 5 s
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                heartbeat?.beat()
                let shards = owned()
                for shard in shards where running.insert(shard) {
                    group.addTask {
                        await loop(shard: shard)
                        running.remove(shard)
                    }
                }
                if ContinuousClock.now - lastGauge > .seconds(5) {
                    lastGauge = ContinuousClock.now
                    for shard in shards { if let n = try? await journeys.pending(shard: shard) { metrics.pendingWakeUps(shard: shard, n) } }
                    metrics.forgetShards(except: Set(shards))
                }
                try? await Task.sleep(for: .milliseconds(200))  // how soon a newly assigned shard starts
            }
            await group.waitForAll()
        }
    }

    /// Fires one shard's wake-ups until the shard is no longer assigned here.
    func loop(shard: Int) async {
        let partition = TopicPartition(topic: Topics.journeys, partition: shard)
        var failures = 0
        var inDoubt = false
        let heartbeat = heartbeats?.make("wake-up poller shard \(shard)")
        defer { if let heartbeat { heartbeats?.retire(heartbeat) } }
        while !Task.isShuttingDownGracefully && !Task.isCancelled && consumer.assignment.contains(partition) {
            heartbeat?.beat()
            var fired = 0
            do {
                fired = try await drain(shard: shard)
                failures = 0
                inDoubt = false
            } catch is NotOwner {
                logger.info("scheduler lost shard \(shard) to another owner")
                return
            } catch let doubt as PartitionInDoubt {
                // Stalled or fenced: nothing fires until the group has had a
                // session timeout to say who owns the shard (`ShardOwnership`).
                if !inDoubt { logger.info("scheduler holds the wake-ups of shard \(shard)", metadata: ["herald.reason": "\(doubt.reason)"]) }
                inDoubt = true
                try? await Task.sleep(for: .milliseconds(250))
                continue
            } catch {
                // A failed batch may already have produced its effects (deduplicated
                // downstream): retrying at a growing pause keeps a lasting failure
                // from multiplying them.
                failures += 1
                logger.warning(
                    "scheduler wake-ups of shard \(shard) failed; will retry", metadata: ["herald.error": "\(error)", "herald.failures": "\(failures)"])
                try? await Task.sleep(for: Backoff.delay(failures, base: .milliseconds(500), cap: .seconds(30)))
            }
            if fired == 0 { try? await Task.sleep(for: interval) }
        }
    }

    /// Fires every due wake-up of one shard; returns how many.
    func drain(shard: Int) async throws -> Int {
        var total = 0
        while true {
            let due = try await journeys.due(shard: shard, now: processor.clock.now(), limit: batchSize)
            // Stop as soon as the partition moves: the new owner fires the rest.
            guard !due.isEmpty, consumer.assignment.contains(TopicPartition(topic: Topics.journeys, partition: shard)) else { return total }
            let batch = due.map { JourneyProcessor.Due(contactId: $0.contactId, instanceId: $0.instanceId, due: $0.due) }
            let handled: Int
            do {
                handled = try await processor.wake(batch, shard: shard)
            } catch  where Self.blamesInput(error) {
                logger.warning(
                    "scheduler wake-up batch of shard \(shard) failed; handling its contacts one by one",
                    metadata: ["herald.error": "\(error)", "herald.wake_ups": "\(batch.count)"])
                handled = try await wakeOneByOne(batch, shard: shard)
            }
            total += handled
            // A short batch is the last; a batch of busy contacts waits for the next poll.
            if due.count < batchSize || handled == 0 || Task.isShuttingDownGracefully { return total }
        }
    }
}

extension WakeUpPoller {
    /// Whether a failure may be one contact's fault: not an outage (every contact
    /// would fail alike), not a lost or doubtful shard (the owner decides).
    /// A shutdown is nobody's fault either: nothing is dead-lettered while one runs.
    static func blamesInput(_ error: any Error) -> Bool {
        !(error is NotOwner || error is PartitionInDoubt || error is CancellationError || (error as? any DependencyFailure)?.isOutage == true
            || Task.isShuttingDownGracefully || Task.isCancelled)
    }

    /// The consumers' failure policy, for wake-ups: each contact's due wake-ups
    /// alone, in due order; a contact whose wake-ups fail `maxAttempts` times
    /// (outages waited out by the caller's loop, not counted) has them moved to
    /// herald.dlq, and the shard goes on. Returns how many were handled.
    func wakeOneByOne(_ batch: [JourneyProcessor.Due], shard: Int) async throws -> Int {
        let (order, byContact) = JourneyProcessor.Due.byContact(batch)
        var handled = 0
        // Stopped by a shutdown: the rest stay in the wake-up set for the next owner.
        for contactId in order where !Task.isShuttingDownGracefully && !Task.isCancelled {
            let dues = byContact[contactId]!
            var failures = 0
            while true {
                do {
                    handled += try await processor.wake(dues, shard: shard)
                    break
                } catch  where Self.blamesInput(error) {
                    failures += 1
                    guard failures >= maxAttempts else {
                        try await Task.sleep(for: Backoff.delay(failures, base: retryBase, cap: .seconds(10)))
                        continue
                    }
                    try await processor.deadLetter(dues, shard: shard, reason: "wake-up failed \(failures) times: \(error)")
                    handled += dues.count
                    break
                }
            }
        }
        return handled
    }
}

/// Shards with a running loop.
private final class ShardSet: Sendable {
    private let shards = Mutex<Set<Int>>([])

    func insert(_ shard: Int) -> Bool { shards.withLock { $0.insert(shard).inserted } }
    func remove(_ shard: Int) { shards.withLock { _ = $0.remove(shard) } }
}
