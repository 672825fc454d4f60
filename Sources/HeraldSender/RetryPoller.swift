import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import ServiceLifecycle

/// Looks again at messages of the shards this sender owns (its `herald.sends`
/// partitions) whose retry is due or whose claim's lease ran out.
struct RetryPoller: Service {
    let consumer: KafkaConsumer
    let messages: MessageStore
    let processor: SendProcessor
    /// The longest pause between passes (when nothing falls due sooner).
    let interval: Duration
    /// The shortest pause: a pass that found more due than it took goes again after this.
    var minimumPause: Duration = .milliseconds(1)
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let shards = consumer.assignment.filter { $0.topic == Topics.sends }.map(\.partition)
            var pause = interval
            if !shards.isEmpty {
                do {
                    // Every owned shard at once: one round trip for what is due, one
                    // batch through the processor (one limiter call per wave).
                    let due = try await messages.due(shards: shards, now: processor.now(), limit: 500)
                    try await processor.process(due)
                    // Wake when the next message falls due — for a parked message,
                    // its turn at the limit (`RateLimiter`) — not on a fixed tick: a
                    // tick's slack, paid at every slot, left a quarter of a spread
                    // limit unused with a backlog (147 of 200/s).
                    if let next = try await messages.nextDue(shards: shards) {
                        pause = min(interval, max(minimumPause, .milliseconds(next - processor.now())))
                    }
                } catch {
                    // A failure leaves the messages due: they are looked at again next time.
                    logger.warning("sender could not handle due retries; will look again", metadata: ["herald.error": "\(error)"])
                }
            }
            try? await Task.sleep(for: pause)
        }
    }
}
