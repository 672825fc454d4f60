import Foundation
import HeraldCore
import HeraldKafka
import Logging
import Prometheus

/// Validates records of `herald.events.raw` (bulk producers) with the same rules
/// as the HTTP API. Valid events go through `EventIntake`; invalid records go to
/// `herald.dlq` with their original key and bytes and the reason in headers:
/// `herald.error.field`, `herald.error.reason`, `herald.source.topic`,
/// `herald.source.partition`, `herald.source.offset`.
///
/// A batch whose events could not all be accepted throws, so the consumer retries
/// it without storing offsets; dedupe makes the retry harmless.
public struct RawEventsHandler: Sendable {
    let intake: EventIntake
    let deadLetters: DeadLetterQueue
    let validator = EventValidator()
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system
    let dlqTotal: Counter

    /// A consumer of `herald.events.raw` feeding `intake`; invalid records go to `deadLetters`.
    public init(intake: EventIntake, deadLetters: DeadLetterQueue, metrics: PrometheusCollectorRegistry, logger: Logger) {
        self.intake = intake
        self.deadLetters = deadLetters
        self.logger = logger
        dlqTotal = metrics.makeCounter(
            descriptor: .init(metricName: "herald_ingest_dead_lettered", unitName: "total", helpText: "Invalid raw records moved to herald.dlq"),
            labels: [("worker", "ingestor")])
    }

    /// Handles one consumer batch.
    public func handle(_ batch: [KafkaRecord]) async throws {
        let now = clock.now()
        var events: [Event] = []
        var sources: [KafkaRecord] = []
        var invalid: [(KafkaRecord, EventValidationError)] = []
        for record in batch {
            do {
                let value = try JSONValue.parse(record.value)
                events.append(try validator.validate(value, receivedAt: now))
                sources.append(record)
            } catch let error as EventValidationError {
                invalid.append((record, error))
            } catch {
                invalid.append((record, EventValidationError(field: "", reason: "not valid JSON: \(error)")))
            }
        }
        let outcomes = try await intake.accept(events)
        if let failure = outcomes.first(where: { if case .retry = $0 { true } else { false } }) {
            throw IntakeRetryError(reason: "\(failure)")
        }
        for (record, outcome) in zip(sources, outcomes) {
            if case .tooLarge(let bytes) = outcome {
                invalid.append((record, EventValidationError(field: "properties", reason: EventsAPI.tooLargeMessage(bytes))))
            }
        }
        // Unacknowledged dead letters throw: offsets stay unstored; the batch is retried.
        try await deadLetters.send(
            invalid.map { record, error in
                (record, error.field.isEmpty && error.reason.hasPrefix("not valid JSON") ? .undecodable : .invalid, error.field, error.description)
            })
        if !invalid.isEmpty {
            dlqTotal.increment(by: Int64(invalid.count))
            logger.info(
                "ingest moved invalid raw records to herald.dlq", metadata: ["herald.count": "\(invalid.count)", "herald.first_reason": "\(invalid[0].1)"])
        }
    }
}

/// Some events of a raw batch could not be accepted now; the batch is retried.
/// Kafka did not acknowledge, or another request holds the dedupe claim: both
/// pass by themselves, so the batch is retried and nothing is dead-lettered.
struct IntakeRetryError: DependencyFailure, CustomStringConvertible {
    let reason: String
    var description: String { "some events could not be accepted: \(reason)" }
    var isOutage: Bool { true }
}
