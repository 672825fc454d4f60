import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import ServiceLifecycle

/// Closes waiting visits of the shards this alerter owns (its `herald.events`
/// partitions) whose session timed out: no next view and no leave came, so the
/// time on the page is unknown and no minimum was reached. Taking a visit is
/// atomic, so two alerters that both own a shard during a rebalance close it once.
struct VisitTimeoutSweeper: Service {
    let consumer: KafkaConsumer
    let evaluator: AlertEvaluator
    let interval: Duration

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            for shard in consumer.assignment.filter({ $0.topic == Topics.events }).map(\.partition) {
                do {
                    let timedOut = try await evaluator.store.takeTimedOut(shard: shard, now: evaluator.clock.now())
                    var alerts: [AlertEvaluator.Alert] = []
                    var stats: [(ruleId: String, day: String, counter: AlertStore.Counter, by: Int)] = []
                    for (contact, visit) in timedOut { evaluator.decide(visit, .timeout, contactId: contact, into: &alerts, &stats) }
                    try await evaluator.store.count(stats)
                } catch {
                    evaluator.logger.warning("alerter could not sweep timed-out visits of shard \(shard)", metadata: ["herald.error": "\(error)"])
                }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
