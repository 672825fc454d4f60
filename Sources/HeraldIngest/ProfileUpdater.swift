import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging

/// Applies the profile changes events imply (`contact_updated`, `list_subscribed`,
/// `list_unsubscribed`, `tag_added`, `tag_removed`, `purchase`), reading
/// `herald.events` in its own consumer group so a change is applied at least once
/// after the event was accepted, in the contact's order. Every change is idempotent
/// (sets, and purchases keyed by event id), so a replay changes nothing.
public struct ProfileUpdater: Sendable {
    /// The consumer group; separate from the raw-topic group of the same process.
    public static let consumerGroup = "herald-ingestor-profiles"

    let store: ContactStore
    let logger: Logger

    public init(store: ContactStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func handle(_ batch: [KafkaRecord]) async throws {
        var changes: [(contactId: String, change: ContactChange)] = []
        for record in batch {
            guard let event = try? Event.decodeCanonical(record.value) else {
                logger.warning("profile updater skipped a record that is not a canonical event", metadata: ["kafka.offset": "\(record.offset)"])
                continue
            }
            if let change = ContactInput.change(for: event) { changes.append((event.contactId, change)) }
        }
        guard !changes.isEmpty else { return }
        try await store.apply(changes, now: Int64(Date.nowMilliseconds))
    }
}

import Foundation
