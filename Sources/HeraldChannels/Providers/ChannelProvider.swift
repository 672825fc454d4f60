import HeraldCore
import HeraldRedis

/// One channel's provider: what a send request becomes on the wire, under which
/// limits, and what the provider's answer means for the message.
///
/// The sender (`SendProcessor`) owns everything channels share — consent, the
/// channel's configured rate, waves, claims, retries and recording — and asks the
/// channel's provider for a plan per message. Adding a channel is one new
/// conforming type and one entry in the sender's registry (`SenderApp`); adding an
/// account is one more configured provider value.
public protocol ChannelProvider: Sendable {
    /// What to do with one request, decided from the request and the contact's
    /// profile (nil: no profile stored). Thrown errors are dependency failures
    /// (Redis unreachable) and fail the batch, which is retried.
    func plan(_ request: SendRequest, profile: ContactProfile?) async throws -> SendPlan
}

/// What happens to one send request.
public enum SendPlan: Sendable {
    /// It ends here, without a provider call (invalid, not configured, no template...).
    case finish(MessageState, String)
    /// A provider call, under these limits.
    case call(ProviderCall)
}

/// A provider call and the limits it is subject to beyond the channel's own rate.
/// A class: each call passes through several lists on its way through a wave, and
/// copying a struct of these fields retained every one of them each time.
public final class ProviderCall: Sendable {
    /// Limits of this provider or recipient (the per-domain email rate, WhatsApp's
    /// one message per recipient per interval); the sender adds the channel's rate.
    public let rates: [RateLimiter.Rate]
    /// The account's unique-recipient cap (WhatsApp's messaging tier).
    public let unique: RateLimiter.UniqueRecipients?
    /// The provider's status callbacks will name the message (`MessageReference`),
    /// so its provider id needs no mapping back (`MessageStore.Transition.mapProviderId`).
    public let callbacksNameMessage: Bool
    /// What the wave does to make the call.
    public let action: Action

    /// A call of `action` under these limits.
    public init(rates: [RateLimiter.Rate] = [], unique: RateLimiter.UniqueRecipients? = nil, callbacksNameMessage: Bool = false, action: Action) {
        self.rates = rates
        self.unique = unique
        self.callbacksNameMessage = callbacksNameMessage
        self.action = action
    }

    /// How the call is made: an HTTP request or an SMTP hand-off.
    public enum Action: Sendable {
        /// An HTTP request — built when the wave calls, so a signature's
        /// timestamp is fresh — and how its result reads. A wave's requests go
        /// out together (`HTTPClient.send(many:)`).
        case http(request: @Sendable () -> HTTPRequest, outcome: @Sendable (Result<HTTPClientResponse, HTTPClientError>) -> SendOutcome)
        /// An email to hand to the SMTP server, and how the hand-off reads; a
        /// wave's emails go out together (`SMTPClient.send(many:)`).
        case smtp(SMTPEnvelope, outcome: @Sendable (SMTPOutcome) -> SendOutcome)
    }
}

/// What one provider call's answer means for the message.
public enum SendOutcome: Sendable {
    /// Accepted; the provider's id of the message, when it gives one (status callbacks name it).
    case sent(String?)
    /// A failed attempt that may pass: retried with backoff, up to `sender.max_attempts`.
    case retry(String)
    /// The provider did not take the attempt — it throttled us, or could not be
    /// reached (an outage): parked with backoff, not a failed attempt, so an
    /// outage followed by recovery loses nothing; ends in error only after
    /// `sender.give_up_after`.
    case deferred(String)
    /// Refused for good: not retried.
    case failed(String)
    /// A failed attempt that may pass no sooner than `after` (WhatsApp 131049,
    /// the per-user marketing limit: the recipient had enough marketing for now):
    /// retried after at least that long, up to `sender.max_attempts`.
    case retryAfter(String, Duration)
    /// The provider stopped the sending account (WhatsApp 131048, the spam rate
    /// limit): nothing more goes out from it until an operator resumes it
    /// (`heraldctl limits resume`); this message was not taken and waits, no attempt used.
    case accountStopped(String)
    /// The provider may have the message, and sending again could deliver it
    /// twice: ends `sending_failed` "outcome unknown", not retried; a status
    /// callback moves it on if the provider sent it.
    case unknown(String)

    /// No HTTP response, judged by what the provider can have received:
    /// nothing sent is an outage (deferred, no attempt used); a request sent
    /// but unanswered is a failed attempt where the call carries an
    /// idempotency key (`idempotent`: webhooks), and unknown where it does not
    /// (WhatsApp, Twilio).
    public static func noResponse(_ error: HTTPClientError, idempotent: Bool) -> SendOutcome {
        switch error.code {
        case .connection: .deferred("\(error)")
        case .refused: .failed("\(error)")  // an address the policy refuses stays refused
        case .timeout, .other: idempotent ? .retry("\(error)") : .unknown("\(error)")
        }
    }

    /// A provider's 5xx: 503 says the service did not take the request (deferred,
    /// an outage); any other 5xx may come after the message was accepted, and
    /// neither WhatsApp nor Twilio takes an idempotency key, so it is unknown
    /// rather than retried into a second message. nil below 500.
    public static func serverError(_ status: Int, _ provider: String) -> SendOutcome? {
        guard status >= 500 else { return nil }
        return status == 503 ? .deferred("\(provider) HTTP 503") : .unknown("\(provider) HTTP \(status)")
    }
}

/// What templates see: the profile, the triggering event, ids.
enum TemplateData {
    static func of(_ request: SendRequest, profile: ContactProfile?) -> [String: JSONValue] {
        [
            "contact": profile?.json ?? ["id": .string(request.contactId)], "event": .object(request.event),
            "campaign_id": .string(request.campaignId), "send_id": .string(request.id),
        ]
    }
}
