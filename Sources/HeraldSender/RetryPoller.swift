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
    let interval: Duration
    /// The pause after a pass that found due messages.
    var busyInterval: Duration = .milliseconds(20)
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let shards = consumer.assignment.filter { $0.topic == Topics.sends }.map(\.partition)
            var found = false
            for shard in shards {
                do {
                    // A failure leaves the messages due: they are looked at again next time.
                    let due = try await messages.due(shard: shard, now: processor.now(), limit: 500)
                    found = found || !due.isEmpty
                    try await processor.process(due)
                } catch {
                    logger.warning("sender could not handle due retries of shard \(shard); will look again", metadata: ["herald.error": "\(error)"])
                }
            }
            // While messages wait for a limit, a slot frees every few ms (a rate is
            // spread over tenths of its window): look again soon, so the limit is
            // used, not just respected.
            try? await Task.sleep(for: found ? busyInterval : interval)
        }
    }
}
