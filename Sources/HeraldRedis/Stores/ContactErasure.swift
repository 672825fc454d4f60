import HeraldCore

/// Erasing a contact everywhere Herald keeps it in Redis (docs/contacts.md,
/// "Erasing a contact" lists the places and what stays):
/// journeys, wake-ups and message history (`JourneyStore`); message records,
/// their provider-id mappings, retries and daily caps (`MessageStore`); alert
/// activity and open page visits (`AlertStore`); the phone number in every
/// WhatsApp account's unique-recipient set and its recipient window
/// (`RateLimiter`); and last the profile with its indexes (`ContactStore`).
///
/// The profile goes last: if anything before fails, the erasure is repeated
/// whole by the next request, and every step is safe to repeat.
public struct ContactErasure: Sendable {
    let contacts: ContactStore
    let journeys: JourneyStore
    let messages: MessageStore
    let alerts: AlertStore
    let limiter: RateLimiter

    /// Erasure across these stores.
    public init(contacts: ContactStore, journeys: JourneyStore, messages: MessageStore, alerts: AlertStore, limiter: RateLimiter) {
        self.contacts = contacts
        self.journeys = journeys
        self.messages = messages
        self.alerts = alerts
        self.limiter = limiter
    }

    /// Erases `contactId` everywhere; returns whether it had a profile.
    /// - Throws: a Redis error: part may be erased; repeating finishes it.
    @discardableResult
    public func erase(_ contactId: String, now: Int64) async throws -> Bool {
        let profile = try await contacts.get(contactId)
        try await journeys.erase(contactId: contactId)
        try await messages.erase(contactId: contactId, now: now)
        try await alerts.erase(contactId: contactId)
        if let phone = profile?.phone { try await limiter.forget(recipient: phone) }
        try await contacts.updateLookups(contactId, before: profile, after: nil)
        return try await contacts.delete(contactId)
    }
}
