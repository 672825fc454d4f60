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
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let shards = consumer.assignment.filter { $0.topic == Topics.sends }.map(\.partition)
            for shard in shards {
                do {
                    // A failure leaves the messages due: they are looked at again next time.
                    try await processor.process(try await messages.due(shard: shard, now: processor.now(), limit: 500))
                } catch {
                    logger.warning("sender could not handle due retries of shard \(shard); will look again", metadata: ["herald.error": "\(error)"])
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
