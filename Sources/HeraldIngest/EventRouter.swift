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

    public init(store: ContactStore, catalog: CampaignCatalog, producer: KafkaProducer, deadLetters: DeadLetterQueue? = nil, logger: Logger) {
        self.store = store
        self.catalog = catalog
        self.producer = producer
        self.deadLetters = deadLetters
        self.logger = logger
    }

    public func handle(_ batch: [KafkaRecord]) async throws {
        var events: [(event: Event, bytes: [UInt8])] = []
        var undecodable: [KafkaRecord] = []
        for record in batch {
            guard let event = try? Event.decodeCanonical(record.value) else { undecodable.append(record); continue }
            events.append((event, record.value))
        }
        // herald.events holds what the ingestor wrote; anything else is kept in herald.dlq, never dropped.
        try await deadLetters?.send(undecodable.map { ($0, .undecodable, "", "not a canonical event") })
        let changes = events.compactMap { e in ContactInput.change(for: e.event).map { (contactId: e.event.contactId, change: $0) } }
        if !changes.isEmpty { try await store.apply(changes, now: clock.now()) }
        // After the batch was read: sees every change the admin API has answered (`CampaignCatalog`).
        try await catalog.refresh()
        let interesting = try await catalog.interestingEventTypes()
        let commands = events.filter { interesting.contains($0.event.type) }.map { e in
            // The record already holds the canonical event: wrapped as it is.
            KafkaOutgoingRecord(topic: Topics.journeys, key: e.event.contactId, value: JourneyCommand.serialized(canonicalEvent: e.bytes))
        }
        for case .failure(let error) in await producer.send(commands) { throw error }
    }
}

import Foundation
