import Foundation
import HeraldCore
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// A consumer-group member with at-least-once processing.
///
/// It polls batches on its own queue (never on the cooperative pool), hands each
/// batch to `handler` (up to `batchesInFlight` at once), and stores a batch's
/// offsets only after the handler returned for it and for every batch before it;
/// librdkafka commits stored offsets every second and on revoke and close.
///
/// One failure policy for every consumer (docs/reliability.md): a handler that
/// throws a dependency outage (`DependencyFailure.isOutage`: Redis or the
/// broker out) gets the same batch again after a growing pause, for as long as
/// the outage lasts — nothing is dead-lettered for it. Any other failure re-runs
/// the batch record by record, in order; a record that fails
/// `maxAttempts` times goes to `herald.dlq` with its origin, the reason and its
/// bytes (`DeadLetterQueue`), and the partition goes on. Without a dead-letter
/// queue (tests of this type alone) a failing record is retried forever. A
/// handler that throws `PartitionInDoubt` has its batch rewound: nothing is
/// stored, the partitions are sought back to the batch's first records, and the
/// next polls bring them again (and serve the revoke, if one is coming).
///
/// Ownership is trusted only while the process runs without stalls and no other
/// process fenced it (`AssignmentTrust`, `ownershipDoubt(_:)`).
///
/// Rebalancing is cooperative-sticky; `assignment` and `assignmentChanges` tell
/// which partitions this process owns. A committed offset the broker no longer has
/// (`OFFSET_OUT_OF_RANGE`) is logged at error level with the number of records
/// lost and counted in `herald_kafka_offset_out_of_range_total`; the partition then
/// resumes at the earliest record the broker still has.
public final class KafkaConsumer: Service, Sendable {
    /// Processes one batch. Records of one partition come in offset order.
    public typealias Handler = @Sendable ([KafkaRecord]) async throws -> Void

    private let handle: RDKafkaHandle
    private let core: ConsumerCore
    private let configuration: KafkaConsumerConfiguration
    private let handler: Handler
    private let deadLetters: DeadLetterQueue?
    private let logger: Logger
    private let ticker: Ticker
    private let heartbeat: Heartbeat?

    /// - Parameters:
    ///   - metrics: where lag and counters are registered; `worker` labels them.
    ///   - deadLetters: where records that keep failing go (see the failure policy above).
    ///   - heartbeat: beaten each time the poll loop goes round, and each time a
    ///     batch's retry or outage wait does (a handler stuck for good stops it).
    /// - Throws: `KafkaError` with code `.configuration` for a refused property.
    public init(
        configuration: KafkaConsumerConfiguration, metrics: PrometheusCollectorRegistry, worker: String, deadLetters: DeadLetterQueue? = nil, logger: Logger,
        heartbeat: Heartbeat? = nil, handler: @escaping Handler
    ) throws {
        self.heartbeat = heartbeat
        self.configuration = configuration
        self.handler = handler
        self.deadLetters = deadLetters
        self.logger = logger
        let core = ConsumerCore(
            logger: logger, metrics: metrics, worker: worker, group: configuration.groupId, sessionTimeout: configuration.sessionTimeout,
            topicPrefix: configuration.topicPrefix)
        self.core = core
        self.handle = try RDKafkaHandle.consumer(properties: configuration.properties, core: core, logger: logger, topicPrefix: configuration.topicPrefix)
        // Its own thread, not the cooperative pool: a starved pool must not look
        // like a stalled process, and a stopped process stops it too.
        self.ticker = Ticker(every: .milliseconds(100)) { [core] in core.tick() }
    }

    deinit { ticker.stop() }

    /// The partitions this process owns right now.
    public var assignment: Set<TopicPartition> { core.assignment }

    /// The consumer group it is a member of.
    public var groupId: String { configuration.groupId }

    /// Why this process may not act as `partition`'s owner now — it is not
    /// assigned here, the process stalled, or another process fenced it — or nil
    /// when it may (`AssignmentTrust`).
    public func ownershipDoubt(_ partition: TopicPartition) -> String? {
        core.doubt(about: partition)
    }

    /// Tells the consumer that another process took `partition`'s fencing token:
    /// its ownership is in doubt until a session timeout of polls has passed.
    public func fenced(_ partition: TopicPartition) {
        core.fenced(partition)
    }

    /// Every assignment change, in order: partitions gained and lost.
    public var assignmentChanges: AsyncStream<AssignmentChange> { core.changes }

    /// True when a broker answered a metadata request within `timeout`.
    public func isReachable(timeout: Duration = .seconds(1)) async -> Bool {
        await handle.isReachable(timeout: timeout)
    }

    /// Joins the group and processes batches until graceful shutdown, then
    /// commits stored offsets and leaves the group.
    public func run() async throws {
        try handle.subscribe(configuration.topics)
        logger.info(
            "kafka.consumer subscribed", metadata: [LogKeys.group: "\(configuration.groupId)", LogKeys.topic: "\(configuration.topics.joined(separator: ","))"])

        let pollMs = Int32(clamping: configuration.pollTimeout.milliseconds)
        let maxBatch = configuration.maxBatchSize
        let lagEvery = configuration.lagInterval
        var nextLag = ContinuousClock.now + lagEvery
        // Batches in the handler, oldest first (`batchesInFlight`), numbered in poll order.
        var inFlight: [(seq: Int, batch: [KafkaRecord], done: Task<Outcome, Never>)] = []
        var polled = 0
        // False once a batch was left unfinished (shutdown): no later batch's
        // offsets may be stored past its records.
        var storing = true
        // A rewound partition: batches up to this number were polled before its
        // seek, and their records of it come again, so they store none of its offsets.
        var rewound: [TopicPartition: Int] = [:]
        func finishOldest() async {
            let (seq, batch, task) = inFlight.removeFirst()
            let outcome = await withTaskCancellationHandler {
                await task.value
            } onCancel: {
                task.cancel()
            }
            // Records of a partition rewound since this batch was polled come again
            // from that seek: they are neither stored nor sought to here (a second
            // seek, to this batch's later offset, would skip what the first brings back).
            let current = rewound.isEmpty ? batch : batch.filter { r in (rewound[TopicPartition(topic: r.topic, partition: r.partition)] ?? -1) < seq }
            switch outcome {
            case .done where storing:
                core.consumed(current.count)
                storeOffsets(current)
            case .rewind:
                for tp in await rewind(current) { rewound[tp] = polled }
            case .done, .stopped:
                storing = false
            }
        }
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            heartbeat?.beat()
            let batch = await handle.queue.run { [handle, core] in
                core.pollBatch(handle, firstTimeoutMs: pollMs, max: maxBatch)
            }
            if !batch.isEmpty {
                polled += 1
                inFlight.append((polled, batch, Task { await self.process(batch) }))
            }
            // Full, or nothing new came: the oldest is waited for (and, with
            // nothing new, every batch, so offsets are stored without delay).
            while inFlight.count >= max(1, configuration.batchesInFlight) || (batch.isEmpty && !inFlight.isEmpty) { await finishOldest() }
            if ContinuousClock.now >= nextLag {
                nextLag = ContinuousClock.now + lagEvery
                await handle.queue.run { [handle, core] in core.updateLag(handle) }
            }
        }
        while !inFlight.isEmpty { await finishOldest() }
        await close()
    }

    /// What became of a batch.
    enum Outcome {
        /// Every record was handled or dead-lettered: its offsets may be stored.
        case done
        /// Shutdown came first: its offsets stay unstored, so it is read again after a restart.
        case stopped
        /// Ownership of a partition is in doubt: the batch is read again after a seek.
        case rewind
    }

    /// Handles `batch` under the failure policy.
    private func process(_ batch: [KafkaRecord]) async -> Outcome {
        switch await attempt(batch) {
        case .handled: return .done
        case .stopped: return .stopped
        case .inDoubt(let doubt): return await pauseBeforeRewind(doubt)
        case .failed(let error):
            guard batch.count > 1 || deadLetters != nil else { return await retryForever(batch) }
            logger.warning(
                "kafka.consumer batch failed; handling its records one by one", metadata: [LogKeys.error: "\(error)", "kafka.records": "\(batch.count)"])
        }
        // Record by record, in order: the one to blame is found, the others go on.
        for record in batch {
            var failures = 0
            while true {
                switch await attempt([record]) {
                case .handled: break
                case .stopped: return .stopped
                case .inDoubt(let doubt): return await pauseBeforeRewind(doubt)
                case .failed(let error):
                    failures += 1
                    heartbeat?.beat()
                    guard let deadLetters else {
                        await pause(failures)
                        continue
                    }
                    guard failures >= configuration.maxAttempts else {
                        await pause(failures)
                        continue
                    }
                    // The dead letter must be acknowledged before the record counts as handled.
                    if await deliver(record, to: deadLetters, error: error, failures: failures) { break }
                    return .stopped
                }
                break
            }
        }
        return .done
    }

    enum Attempt {
        case handled
        case failed(any Error)
        case inDoubt(PartitionInDoubt)
        case stopped
    }

    /// A short pause, so a doubt that lasts costs a few polls a second, not a spin.
    private func pauseBeforeRewind(_ doubt: PartitionInDoubt) async -> Outcome {
        logger.info("kafka.consumer rewinds a batch: partition ownership in doubt", metadata: [LogKeys.error: "\(doubt)"])
        try? await Task.sleep(for: configuration.retryBackoff)
        return Task.isShuttingDownGracefully || Task.isCancelled ? .stopped : .rewind
    }

    /// Seeks each partition of `batch` back to its first record there; returns
    /// the partitions sought.
    private func rewind(_ batch: [KafkaRecord]) async -> [TopicPartition] {
        var first: [TopicPartition: Int64] = [:]
        for r in batch {
            let tp = TopicPartition(topic: r.topic, partition: r.partition)
            first[tp] = min(first[tp] ?? .max, r.offset)
        }
        let targets = first
        if let refused = await handle.queue.run({ [handle] in handle.seek(targets) }) {
            // Typically revoked meanwhile: the new owner reads the records.
            logger.info("kafka.consumer could not seek back", metadata: [LogKeys.error: "\(refused)"])
        }
        return Array(first.keys)
    }

    /// Runs the handler once, waiting out dependency outages (which are not attempts).
    private func attempt(_ records: [KafkaRecord]) async -> Attempt {
        var outages = 0
        while true {
            do {
                try await handler(records)
                return .handled
            } catch {
                core.handlerFailed()
                if Task.isShuttingDownGracefully || Task.isCancelled { return .stopped }
                if let doubt = error as? PartitionInDoubt { return .inDoubt(doubt) }
                guard (error as? any DependencyFailure)?.isOutage == true else { return .failed(error) }
                outages += 1
                heartbeat?.beat()  // waiting on purpose, not stuck
                logger.warning(
                    "kafka.consumer waits out a dependency outage; nothing is dead-lettered for it",
                    metadata: [LogKeys.error: "\(error)", "kafka.attempt": "\(outages)"])
                await pause(outages)
            }
        }
    }

    /// Dead-letters `record`; an outage of the dead-letter topic is waited out.
    private func deliver(_ record: KafkaRecord, to deadLetters: DeadLetterQueue, error: any Error, failures: Int) async -> Bool {
        var outages = 0
        while !(Task.isShuttingDownGracefully || Task.isCancelled) {
            do {
                try await deadLetters.send(record, reason: .failed, message: "failed \(failures) times: \(error)")
                return true
            } catch {
                outages += 1
                heartbeat?.beat()
                logger.warning("kafka.consumer could not dead-letter a record; will retry", metadata: [LogKeys.error: "\(error)"])
                await pause(outages)
            }
        }
        return false
    }

    /// No dead-letter queue and one record: the old behaviour, retried until it passes.
    private func retryForever(_ batch: [KafkaRecord]) async -> Outcome {
        var failures = 1
        while true {
            await pause(failures)
            switch await attempt(batch) {
            case .handled: return .done
            case .stopped: return .stopped
            case .inDoubt(let doubt): return await pauseBeforeRewind(doubt)
            case .failed: failures += 1
            }
        }
    }

    /// Waits `backoff(n)` before try `n + 1`, beating at least every 250 ms:
    /// a pause on purpose is not a stall, however long it grows and however
    /// tight the liveness bound (`health.stall_after`) is set. Ends early on
    /// cancellation or shutdown.
    private func pause(_ n: Int) async {
        var left = Self.backoff(n, base: configuration.retryBackoff)
        while left > .zero, !(Task.isShuttingDownGracefully || Task.isCancelled) {
            let slice = min(left, Self.pauseSlice)
            try? await Task.sleep(for: slice)
            left -= slice
            heartbeat?.beat()
        }
    }

    /// The longest sleep between two beats of a pause (`pause`).
    static let pauseSlice = Duration.milliseconds(250)

    /// `base` × 2^(n-1), at most 10 s: a failing record or an outage costs a few
    /// calls a second at first and one every 10 s once it lasts.
    static func backoff(_ n: Int, base: Duration) -> Duration {
        Backoff.delay(n, base: base, cap: .seconds(10))
    }

    /// Stores (does not commit) the offset after the last record of each partition.
    private func storeOffsets(_ batch: [KafkaRecord]) {
        guard !batch.isEmpty else { return }
        var next: [TopicPartition: Int64] = [:]
        for r in batch {
            let tp = TopicPartition(topic: r.topic, partition: r.partition)
            next[tp] = max(next[tp] ?? 0, r.offset + 1)
        }
        // Non-blocking: it only updates in-memory state.
        if let error = handle.storeOffsets(next) {
            // Typically the partition was revoked meanwhile: its new owner re-reads it.
            logger.info("kafka.consumer could not store offsets", metadata: [LogKeys.error: "\(error)"])
        }
    }

    private func close() async {
        await handle.queue.run { [handle, core, logger] in
            if let error = handle.commitAndClose() {
                logger.warning("kafka.consumer final commit failed", metadata: [LogKeys.error: "\(error)"])
            }
            // librdkafka before 2.3.0 (Debian 12 ships 2.0.2) asserts in
            // `rd_kafka_sticky_assignor_state_destroy` when a cooperative-sticky
            // consumer that was never assigned is destroyed (librdkafka #4312,
            // fixed by #4381): a SIGTERM during start-up aborted the process. Such a
            // handle is left to the process's exit instead; it holds no offsets.
            if !core.everAssigned.withLock({ $0 }) {
                handle.leakAtExit()
                logger.info("kafka.consumer closed before any assignment; its handle is released at exit (librdkafka #4312)")
            }
            core.finish()
        }
        ticker.stop()
        logger.info("kafka.consumer closed", metadata: [LogKeys.group: "\(configuration.groupId)"])
    }
}

/// A change of the partitions a consumer owns.
public enum AssignmentChange: Sendable, Hashable {
    case assigned([TopicPartition])
    case revoked([TopicPartition])
}

// MARK: - State shared with librdkafka's callbacks

/// What the C callbacks reach through the configuration opaque: the assignment,
/// metrics and the logger. All of it runs on the consumer's queue (callbacks are
/// served inside the consumer poll) except reads of `assignment`.
final class ConsumerCore: Sendable {
    let logger: Logger
    let metrics: PrometheusCollectorRegistry
    private let worker: String
    private let group: String
    private let owned = Mutex<Set<TopicPartition>>([])
    /// Whether the group ever assigned this consumer anything (its rebalance
    /// callback ran with an assignment, even an empty one).
    let everAssigned = Mutex(false)
    let lagGauges = Mutex<[TopicPartition: Gauge]>([:])
    private let stream: AsyncStream<AssignmentChange>
    private let continuation: AsyncStream<AssignmentChange>.Continuation
    private let recordsTotal: Counter
    private let handlerErrors: Counter
    let outOfRange: Counter
    let errors: Counter

    let trust: Mutex<AssignmentTrust>
    /// The handle's topic prefix, for the callbacks (`RDKafkaHandle.topicPrefix`).
    let topicPrefix: String

    init(logger: Logger, metrics: PrometheusCollectorRegistry, worker: String, group: String, sessionTimeout: Duration, topicPrefix: String = "") {
        self.topicPrefix = topicPrefix
        self.logger = logger
        trust = Mutex(AssignmentTrust(sessionTimeout: sessionTimeout, now: .now))
        self.metrics = metrics
        self.worker = worker
        self.group = group
        (stream, continuation) = AsyncStream.makeStream(of: AssignmentChange.self)
        let labels = [("worker", worker), ("group", group)]
        recordsTotal = metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "herald_kafka_consumed_records", unitName: "total", helpText: "Records processed and stored for commit"), labels: labels)
        handlerErrors = metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "herald_kafka_handler_errors", unitName: "total", helpText: "Batches whose handler threw and were retried"), labels: labels)
        outOfRange = metrics.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "herald_kafka_offset_out_of_range", unitName: "total",
                helpText: "Partitions whose committed offset was no longer on the broker (records lost)"), labels: labels)
        errors = metrics.makeCounter(
            descriptor: MetricNameDescriptor(metricName: "herald_kafka_consumer_errors", unitName: "total", helpText: "Errors reported by librdkafka"),
            labels: labels)
    }

    var assignment: Set<TopicPartition> { owned.withLock { $0 } }
    var changes: AsyncStream<AssignmentChange> { stream }

    func consumed(_ n: Int) { recordsTotal.increment(by: Int64(n)) }

    func tick() { trust.withLock { $0.tick(at: .now) } }
    func fenced(_ tp: TopicPartition) { trust.withLock { $0.fenced(tp, at: .now) } }

    func doubt(about tp: TopicPartition) -> String? {
        guard assignment.contains(tp) else { return "\(tp) is not assigned to this process" }
        return trust.withLock { $0.doubt(about: tp, at: .now) }
    }
    func handlerFailed() { handlerErrors.increment() }

    func assigned(_ tps: [TopicPartition]) {
        everAssigned.withLock { $0 = true }
        owned.withLock { $0.formUnion(tps) }
        continuation.yield(.assigned(tps.sorted()))
        logger.info("kafka.consumer partitions assigned", metadata: [LogKeys.partitions: "\(tps.sorted().map(\.description).joined(separator: ","))"])
    }

    func revoked(_ tps: [TopicPartition]) {
        owned.withLock { $0.subtract(tps) }
        let gauges = lagGauges.withLock { g in tps.compactMap { g.removeValue(forKey: $0) } }
        for gauge in gauges { metrics.unregisterGauge(gauge) }
        continuation.yield(.revoked(tps.sorted()))
        logger.info("kafka.consumer partitions revoked", metadata: [LogKeys.partitions: "\(tps.sorted().map(\.description).joined(separator: ","))"])
    }

    func finish() {
        let all = owned.withLock { s in
            defer { s.removeAll() }; return Array(s)
        }
        if !all.isEmpty { revoked(all) }
        continuation.finish()
    }

    func gauge(for tp: TopicPartition) -> Gauge {
        lagGauges.withLock { g in
            if let existing = g[tp] { return existing }
            let gauge = metrics.makeGauge(
                descriptor: MetricNameDescriptor(
                    metricName: "herald_kafka_consumer_lag", unitName: "records",
                    helpText: "Records in the partition after the group's committed offset: not yet handled and committed (a restart would read them)"),
                labels: [("worker", worker), ("group", group), ("topic", tp.topic), ("partition", String(tp.partition))])
            g[tp] = gauge
            return gauge
        }
    }
}
