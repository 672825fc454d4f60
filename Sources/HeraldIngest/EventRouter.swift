import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging

/// Reads `herald.events` in its own consumer group and, per batch, in each
/// contact's order and at least once:
/// 1. applies the profile changes events imply (`contact_updated`,
///    `list_subscribed`, `list_unsubscribed`, `tag_added`, `tag_removed`,
///    `purchase`) — idempotent, so replays change nothing;
/// 2. routes the events that a live campaign listens to (a trigger or an exit)
///    to `herald.journeys` as `{"kind":"event","event":{...}}`, keyed by contact,
///    after the profile change, so the scheduler sees the updated profile.
public struct EventRouter: Sendable {
    /// The consumer group; separate from the raw-topic group of the same process.
    public static let consumerGroup = "herald-ingestor-router"

    let store: ContactStore
    let catalog: CampaignCatalog
    let producer: KafkaProducer
    let deadLetters: DeadLetterQueue?
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system

    /// A router applying profile changes to `store` and routing what `catalog`'s live campaigns listen to.
    public init(store: ContactStore, catalog: CampaignCatalog, producer: KafkaProducer, deadLetters: DeadLetterQueue? = nil, logger: Logger) {
        self.store = store
        self.catalog = catalog
        self.producer = producer
        self.deadLetters = deadLetters
        self.logger = logger
    }

    /// Handles one batch of `herald.events`: dead letters, profile changes, then journey commands.
    public func handle(_ batch: [KafkaRecord]) async throws {
        // After the batch was fetched: sees every change the admin API has
        // answered (`CampaignCatalog`), for the activity recorded here and the
        // journey commands below.
        try await catalog.refresh()
        let recorded = catalog.recordedActivityTypes()
        let read = Self.read(batch, recordsActivity: recorded.contains)
        // herald.events holds what the ingestor wrote; anything else is kept in herald.dlq, never dropped.
        try await deadLetters?.send(read.undecodable.map { ($0, .undecodable, "", "not a canonical event") })
        if !read.changes.isEmpty {
            let refused = try await store.apply(read.changes, now: clock.now())
            if let (contact, count) = refused.first {
                // Kept out on purpose (ContactProfile.maxStoredBytes): the events stay on herald.events.
                logger.warning(
                    "profile changes not applied: the profiles would pass their size bound",
                    metadata: ["herald.contacts": "\(refused.count)", "herald.contact_id": "\(contact)", "herald.changes": "\(count)"])
            }
        }
        let commands = Self.commands(read.events, interesting: try await catalog.interestingEventTypes())
        for case .failure(let error) in await producer.send(commands) { throw error }
    }

    /// A batch read: its events (with their bytes as they came), the profile
    /// changes they imply in their order, and the records that are not events.
    struct Read {
        var events: [(event: Event, bytes: [UInt8])] = []
        var changes: [(contactId: String, change: ContactChange)] = []
        var undecodable: [KafkaRecord] = []
    }

    /// - Parameter recordsActivity: whether events of a type are kept as
    ///   activity (`CampaignCatalog.recordedActivityTypes`); an event that would
    ///   change nothing else then changes nothing.
    static func read(_ batch: [KafkaRecord], recordsActivity: (String) -> Bool = { _ in true }) -> Read {
        var read = Read()
        for record in batch {
            guard let event = try? Event(decoding: record.value) else {
                read.undecodable.append(record)
                continue
            }
            read.events.append((event, record.value))
            // A change with activity is activity only (`ContactInput.change(for:)`).
            if let change = ContactInput.change(for: event), change.activity == nil || recordsActivity(event.type) {
                read.changes.append((event.contactId, change))
            }
        }
        return read
    }

    /// The `herald.journeys` records of the events a live campaign listens to,
    /// keyed by contact, in the batch's order. The record already holds the
    /// canonical event: it is wrapped as it is.
    static func commands(_ events: [(event: Event, bytes: [UInt8])], interesting: Set<String>) -> [KafkaOutgoingRecord] {
        events.filter { interesting.contains($0.event.type) }.map { e in
            KafkaOutgoingRecord(topic: Topics.journeys, key: e.event.contactId, value: JourneyCommand.encoded(canonicalEvent: e.bytes))
        }
    }
}
