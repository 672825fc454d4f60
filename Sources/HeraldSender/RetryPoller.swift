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
                    let due = try await messages.due(shard: shard, now: processor.now(), limit: 500)
                    await withTaskGroup(of: Void.self) { group in
                        for request in due {
                            group.addTask {
                                do { try await processor.process(request) } catch {
                                    logger.warning("sender retry failed; will look again", metadata: ["herald.send_id": "\(request.id)", "herald.error": "\(error)"])
                                }
                            }
                        }
                    }
                } catch {
                    logger.warning("sender could not read due retries of shard \(shard)", metadata: ["herald.error": "\(error)"])
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
