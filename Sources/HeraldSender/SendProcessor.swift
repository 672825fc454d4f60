import Foundation
import HeraldChannels
import HeraldCore
import HeraldRedis
import HeraldService
import Logging

/// Turns one send request into at most one provider call: checks (campaign still
/// running, consent, a valid address, a template), claims the message in Redis,
/// calls the provider, records the outcome — or schedules a retry with backoff.
struct SendProcessor: Sendable {
    let messages: MessageStore
    let contacts: ContactStore
    let catalog: CampaignCatalog
    /// Email and SMS (Mustache) templates.
    let templates: EmailTemplates
    let whatsAppTemplates: WhatsAppTemplates
    let whatsAppCatalog: WhatsAppCatalog
    let smtp: SMTPClient
    let http: HTTPClient
    let limiter: RateLimiter
    /// Calls in flight per channel, as many as its connections: a message is
    /// claimed only once a connection is free, so a crash leaves at most this
    /// many outcomes unknown (not a whole batch).
    let gates: [String: SlotPool]
    let settings: SenderSettings
    let from: EmailAddress
    let metrics: SenderMetrics
    let logger: Logger

    func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func process(_ request: SendRequest) async throws {
        // A stopped campaign's queued messages are cancelled, not sent.
        if let entry = try await catalog.entries()[request.campaignId], entry.state == .stopped || entry.retired[request.version] == .now {
            return try await finish(request, .cancelled, "the campaign was stopped")
        }
        // A notification with its content ready needs nothing from the profile.
        let profile = request.to != nil && request.content != nil ? nil : try await contacts.get(request.contactId)
        if Self.isMarketing(request), let consent = profile?.consent,
            consent[request.channel] == .bool(false) || consent["marketing"] == .bool(false)
        {
            return try await finish(request, .cancelled, "the contact opted out of \(request.channel) marketing")
        }
        switch request.channel {
        case "email": try await sendEmail(request, profile: profile)
        case "webhook": try await sendWebhook(request, profile: profile)
        case "whatsapp": try await sendWhatsApp(request, profile: profile)
        case "sms": try await sendSMS(request, profile: profile)
        default:
            try await finish(request, .sendingFailed, "unknown channel '\(request.channel)'")
        }
    }

    /// Transactional messages ignore marketing opt-outs; everything else is marketing.
    /// Transactional messages and internal notifications (`to` set: an alert to a
    /// colleague) ignore marketing opt-outs and caps; everything else is marketing.
    static func isMarketing(_ request: SendRequest) -> Bool { request.to == nil && request.category != "transactional" }

    func sendEmail(_ request: SendRequest, profile: ContactProfile?) async throws {
        if let address = request.to, let content = request.content {
            return try await sendPrepared(request, to: address, content: content)
        }
        let to: EmailAddress
        do {
            to = try EmailAddress(request.to ?? profile?.email ?? "")
        } catch {
            return try await finish(request, .invalidRecord, request.to == nil && profile?.email == nil ? "the contact has no email address" : "\(error)")
        }
        var data: [String: JSONValue] = [
            "contact": profile?.json ?? ["id": .string(request.contactId)], "event": .object(request.event),
            "campaign_id": .string(request.campaignId), "send_id": .string(request.id),
        ]
        let unsubscribe = Self.isMarketing(request) ? settings.unsubscribeURL(contact: request.contactId, send: request.id) : nil
        if let unsubscribe { data["unsubscribe_url"] = .string(unsubscribe) }
        guard let rendered = templates.render(request.template, data: .object(data)) else {
            return try await finish(request, .sendingFailed, "no email template '\(request.template)' (subject.mustache and text.mustache)")
        }
        // Opens and clicks come back as email_opened / email_clicked events (campaign triggers).
        var html = rendered.html
        // Opens and clicks of a notification to a colleague are not the contact's.
        if let h = html, request.to == nil, !settings.unsubscribeSecret.isEmpty {
            html = EmailTracking.instrument(
                html: h, base: settings.publicURL, secret: settings.unsubscribeSecret, contactId: request.contactId, messageId: request.id,
                keep: Set([unsubscribe].compactMap { $0 }))
        }
        let message: [UInt8]
        do {
            message = try EmailMessage(
                from: from, to: to, subject: rendered.subject, text: rendered.text, html: html,
                sendId: request.id, unsubscribeURL: unsubscribe
            ).rendered()
        } catch {
            return try await finish(request, .sendingFailed, "\(error)")
        }
        try await attempt(request, rates: emailRates(request, domain: to.domain)) {
            try await deliver(message, from: from.address, to: to.address)
        }
    }

    /// An internal notification (a sales alert): rendered by whoever asked for it,
    /// sent to `request.to` — no consent check, unsubscribe link or tracking, since
    /// the reader is a colleague, not the contact. Limits, retries and states apply.
    func sendPrepared(_ request: SendRequest, to address: String, content: PreparedEmail) async throws {
        let message: [UInt8]
        let to: EmailAddress
        do {
            to = try EmailAddress(address)
            var email = EmailMessage(from: from, to: to, subject: content.subject, text: content.text, html: content.html, sendId: request.id)
            email.attachments = content.attachments
            message = try email.rendered()
        } catch {
            return try await finish(request, .invalidRecord, "\(error)")
        }
        try await attempt(request, rates: emailRates(request, domain: to.domain)) {
            try await deliver(message, from: from.address, to: to.address)
        }
    }

    func emailRates(_ request: SendRequest, domain: String) -> [RateLimiter.Rate] {
        var rates = channelRates(request)
        if settings.emailPerDomainPerSecond > 0 {
            rates.append(.init(name: "email-domain:\(domain.lowercased())", limit: settings.emailPerDomainPerSecond, window: .seconds(1)))
        }
        return rates
    }

    func deliver(_ message: [UInt8], from: String, to: String) async throws -> Outcome {
        switch try await smtp.send(from: from, to: [to], message: message) {
        case .accepted: .sent(nil)
        case .temporary(let reason): .retry(reason)
        case .unavailable(let reason): .deferred("the SMTP server could not be reached: \(reason)")
        case .permanent(let reason): .failed(reason)
        }
    }

    /// A JSON POST to the step's URL, signed: `X-Herald-Signature: sha256=<hex>` is
    /// HMAC-SHA256 under `sender.webhook_secret` of `<X-Herald-Timestamp>.<body>`;
    /// `Idempotency-Key` carries the send id. Retried on 5xx, 429 and timeouts only.
    func sendWebhook(_ request: SendRequest, profile: ContactProfile?) async throws {
        let url = request.template
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            return try await finish(request, .sendingFailed, "webhook URL '\(url)' is not http(s)")
        }
        guard !settings.webhookSecret.isEmpty else {
            return try await finish(request, .sendingFailed, "sender.webhook_secret is not set: webhooks are only sent signed")
        }
        let body: JSONValue = [
            "id": .string(request.id), "campaign_id": .string(request.campaignId), "step_id": .string(request.stepId),
            "contact": profile?.json ?? ["id": .string(request.contactId)], "event": .object(request.event),
        ]
        let bytes = body.serialized()
        try await attempt(request, rates: channelRates(request)) {
            let timestamp = String(now() / 1000)
            let signature = SHA256.hex(SHA256.hmac(key: Array(settings.webhookSecret.utf8), message: Array("\(timestamp).".utf8) + bytes))
            do {
                let response = try await http.postJSON(url, bytes, headers: [
                    ("X-Herald-Timestamp", timestamp), ("X-Herald-Signature", "sha256=\(signature)"), ("Idempotency-Key", request.id),
                ], timeout: settings.webhookTimeout)
                switch response.status {
                case 200..<300: return .sent(nil)
                case 429: return .deferred("HTTP 429")
                case 500..<600: return .retry("HTTP \(response.status)")
                default: return .failed("HTTP \(response.status): \(String(response.bodyText.prefix(200)))")
                }
            } catch let error as HTTPClientError {
                return .noResponse(error)
            }
        }
    }

    enum Outcome {
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

        /// No HTTP response: a connection that could not be made is an outage
        /// (deferred); a timeout or broken transfer may have reached the provider
        /// (a failed attempt).
        static func noResponse(_ error: HTTPClientError) -> Outcome {
            error.code == .connection ? .deferred("\(error)") : .retry("\(error)")
        }
    }

    func channelRates(_ request: SendRequest) -> [RateLimiter.Rate] {
        settings.channelRates[request.channel].map { [.init(name: request.channel, limit: $0, window: .seconds(1))] } ?? []
    }

    /// Checks the limits, claims the message, calls `call` once, records what happened.
    ///
    /// A message over a rate is parked (`retry_scheduled` until a slot frees; no
    /// attempt is used up); one over the contact's daily marketing cap is cancelled.
    func attempt(_ request: SendRequest, rates: [RateLimiter.Rate] = [], unique: RateLimiter.UniqueRecipients? = nil, _ call: () async throws -> Outcome) async throws {
        let gate = gates[request.channel]
        let slot = try await gate?.acquire()
        defer { if let slot { gate?.release(slot) } }
        if Self.isMarketing(request), settings.marketingPerContactPerDay > 0 {
            let day = String(RFC3339.format(milliseconds: now()).prefix(10))
            let shard = Shard.of(request.contactId, partitions: messages.partitions)
            guard try await limiter.withinDailyCap(contactShard: shard, contactId: request.contactId, day: day, sendId: request.id, limit: settings.marketingPerContactPerDay) else {
                return try await finish(request, .cancelled, "over the daily cap of \(settings.marketingPerContactPerDay) marketing messages for this contact")
            }
        }
        // One clock reading for the limit and the claim: `attempt_ms` is when the slot was taken.
        let t = now()
        if case .wait(let ms, let limit) = try await limiter.acquire(rates, unique: unique, member: request.id, now: t) {
            // Looked at again when a slot frees, or sooner (`sender.park_recheck`): a
            // limit raised at run time (a new WhatsApp tier) then applies within that.
            let next = t + min(ms, settings.parkRecheck.milliseconds)
            try await messages.record(request, .retryScheduled, reason: "throttled by the \(limit) limit", next: next, now: t)
            metrics.outcome(request.channel, "throttled")
            return
        }
        let claim = try await messages.claim(request, now: t, lease: settings.lease)
        guard case .claimed(let attempt, let deferrals, let firstSeen) = claim else {
            if claim == .outcomeUnknown {
                metrics.outcome(request.channel, "unknown")
                logger.warning("sender found a message whose outcome is unknown (a sender died mid-call); marked sending_failed", metadata: ["herald.send_id": "\(request.id)"])
            }
            return  // not due, another sender has it, or it already ended
        }
        let started = ContinuousClock.now
        let outcome: Outcome
        do {
            outcome = try await call()
        } catch {
            outcome = .retry("\(error)")
        }
        metrics.providerLatency(request.channel, ContinuousClock.now - started)
        switch outcome {
        case .sent(let providerId):
            if let providerId { try await messages.remember(providerId: providerId, for: request) }
            try await finish(request, .sent, "")
            if request.originMs > 0 { metrics.handOffLatency(milliseconds: now() - request.originMs) }
        case .failed(let reason):
            try await finish(request, .sendingFailed, reason)
        case .retry(let reason) where attempt >= settings.maxAttempts:
            try await finish(request, .error, "\(attempt) attempts failed; last: \(reason)")
        case .retry(let reason):
            // Exponential backoff with full jitter: uniform in [0, base · 2^(attempt-1)].
            let cap = settings.retryBase.milliseconds << min(attempt - 1, 20)
            let next = now() + Int64.random(in: 0...max(1, cap))
            try await messages.record(request, .retryScheduled, reason: reason, next: next, now: now())
            metrics.outcome(request.channel, "retry_scheduled")
        case .deferred(let reason) where now() - firstSeen >= settings.giveUpAfter.milliseconds:
            try await finish(request, .error, "deferred by the provider for longer than sender.give_up_after (\(settings.giveUpAfter)); last: \(reason)")
        case .deferred(let reason):
            // Backoff grows with each deferral up to a minute, with "equal jitter"
            // (half fixed, half random) so a throttled account is not hit again at once.
            let cap = min(settings.retryBase.milliseconds << min(deferrals, 20), 60_000)
            let next = now() + cap / 2 + Int64.random(in: 0...max(1, cap / 2))
            try await messages.record(request, .retryScheduled, reason: reason, next: next, deferred: true, now: now())
            metrics.outcome(request.channel, "deferred")
        }
    }

    func finish(_ request: SendRequest, _ state: MessageState, _ reason: String) async throws {
        let after = try await messages.record(request, state, reason: reason, now: now())
        // A replay of a message that already ended changes nothing: count nothing.
        guard after == state else { return }
        metrics.outcome(request.channel, state.rawValue)
        if state != .sent {
            logger.info("sender: message \(state.rawValue)", metadata: ["herald.send_id": "\(request.id)", "herald.reason": "\(reason)", "herald.state": "\(after.rawValue)"])
        }
    }
}
