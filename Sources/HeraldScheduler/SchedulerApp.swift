import HeraldCore
import HeraldKafka
import HeraldRedis
import HeraldService
import ServiceLifecycle

/// Builds `herald-scheduler`'s services: the `herald.journeys` consumer and the
/// wake-up poller. The executable and the tests call this.
public enum SchedulerApp {
    /// The scheduler's services: shard-ownership releases, the `herald.journeys` consumer, the
    /// wake-up poller, the date-trigger sweeper and the retirement sweeper.
    public static func services(runtime: WorkerRuntime) throws -> [any Service] {
        let settings = runtime.settings
        let journeys = JourneyStore(redis: runtime.redis, partitions: settings.partitions)
        let ownership = ShardOwnership(journeys: journeys)
        let metrics = SchedulerMetrics(registry: runtime.metrics)
        let processor = JourneyProcessor(
            catalog: CampaignCatalog(store: CampaignStore(redis: runtime.redis)),
            contacts: ContactStore(redis: runtime.redis, partitions: settings.partitions),
            journeys: journeys, ownership: ownership, producer: runtime.producer, deadLetters: runtime.deadLetters, logger: runtime.logger,
            metrics: metrics, testWait: settings.testWait)
        let logger = runtime.logger
        let consumer = try runtime.consumer(topics: [Topics.journeys], maxBatchSize: 2000) { batch in
            var commands: [JourneyCommand] = []
            var undecodable: [KafkaRecord] = []
            for record in batch {
                guard let command = try? JourneyCommand(decoding: record.value) else { undecodable.append(record); continue }
                commands.append(command)
            }
            // Not ours to guess at: kept in herald.dlq, never dropped.
            try await runtime.deadLetters.send(undecodable.map { ($0, .undecodable, "", "not a journey command") })
            // After the batch was read: sees every change the admin API has answered (`CampaignCatalog`).
            try await processor.catalog.refresh()
            // Contacts in parallel, each contact's commands in order.
            try await PerContact.forEach(commands, concurrency: 256, contact: { $0.contactId }) { command in
                do {
                    try await processor.handle(command)
                } catch let error as NotOwner {
                    // The partition moved; its new owner reads this record again.
                    logger.info("scheduler skipped a record of a shard it no longer owns", metadata: ["herald.error": "\(error)"])
                }
            }
        }
        ownership.track(consumer)
        let sweeper = DateSweeper(
            consumer: consumer, contacts: ContactStore(redis: runtime.redis, partitions: settings.partitions),
            catalog: processor.catalog, processor: processor, redis: runtime.redis, interval: settings.sweepInterval,
            duration: runtime.metrics.makeValueHistogram(
                descriptor: .init(metricName: "herald_scheduler_sweep_duration", unitName: "seconds", helpText: "Time of one shard's date-trigger sweep"),
                labels: [("worker", "scheduler")], buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 30]),
            logger: logger, heartbeat: runtime.heartbeats.make("date sweeper"))
        let poller = WakeUpPoller(
            consumer: consumer, journeys: journeys, processor: processor, metrics: metrics, interval: settings.schedulerPollInterval,
            maxAttempts: settings.kafkaMaxAttempts, logger: logger, heartbeats: runtime.heartbeats)
        let releases = OwnershipReleases(consumer: consumer, ownership: ownership)
        var retirements = RetirementSweeper(consumer: consumer, catalog: processor.catalog, journeys: journeys, interval: .seconds(1), logger: logger)
        retirements.heartbeat = runtime.heartbeats.make("retirement sweeper")
        return [releases, consumer, poller, sweeper, retirements]
    }
}

/// Forgets fencing tokens of revoked partitions, so a partition that comes back
/// takes a fresh token.
struct OwnershipReleases: Service {
    let consumer: KafkaConsumer
    let ownership: ShardOwnership

    func run() async throws {
        for await change in consumer.assignmentChanges {
            if case .revoked(let tps) = change { ownership.release(tps.filter { $0.topic == Topics.journeys }.map(\.partition)) }
        }
        // The changes end when the consumer closes, which the group stops before
        // this service (services stop in reverse order): returning before our own
        // turn would count as a failure, and the scheduler would exit 1 on every
        // graceful stop.
        try? await gracefulShutdown()
    }
}
