import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import ServiceLifecycle

/// Fires due wake-ups of the shards this process owns (the partitions of
/// `herald.journeys` assigned to it), in due order, in batches until a batch comes
/// back short; then sleeps `interval`.
struct WakeUpPoller: Service {
    let consumer: KafkaConsumer
    let journeys: JourneyStore
    let processor: JourneyProcessor
    let metrics: SchedulerMetrics
    let interval: Duration
    let batchSize = 2000
    /// Contacts handled at once.
    let concurrency = 256
    let logger: Logger

    func run() async throws {
        var lastGauge = ContinuousClock.now - .seconds(10)  // report at once, then every 5 s
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let shards = consumer.assignment.filter { $0.topic == Topics.journeys }.map(\.partition).sorted()
            var fired = 0
            for shard in shards {
                do {
                    fired += try await drain(shard: shard)
                } catch is NotOwner {
                    logger.info("scheduler lost shard \(shard) to another owner")
                } catch {
                    logger.warning("scheduler wake-ups of shard \(shard) failed; will retry", metadata: ["herald.error": "\(error)"])
                }
            }
            if ContinuousClock.now - lastGauge > .seconds(5) {
                lastGauge = ContinuousClock.now
                for shard in shards { if let n = try? await journeys.pending(shard: shard) { metrics.pendingWakeUps(shard: shard, n) } }
            }
            if fired == 0 { try? await Task.sleep(for: interval) }
        }
    }

    /// Fires every due wake-up of one shard; returns how many.
    func drain(shard: Int) async throws -> Int {
        var total = 0
        while true {
            let due = try await journeys.due(shard: shard, now: Int64(Date().timeIntervalSince1970 * 1000), limit: batchSize)
            // Stop as soon as the partition moves: the new owner fires the rest.
            guard consumer.assignment.contains(TopicPartition(topic: Topics.journeys, partition: shard)) else { return total }
            try await PerContact.forEach(due, concurrency: concurrency, contact: { $0.contactId }) { d in
                try await processor.wake(contactId: d.contactId, instanceId: d.instanceId, due: d.due)
            }
            total += due.count
            if due.count < batchSize || Task.isShuttingDownGracefully { return total }
        }
    }
}
