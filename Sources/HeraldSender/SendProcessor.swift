import Foundation
import HeraldChannels
import HeraldCore
import HeraldRedis
import HeraldService
import Logging

/// Turns send requests into at most one provider call each: checks (campaign still
/// running, consent, a valid address, a template), claims the message in Redis,
/// calls the provider, records the outcome — or schedules a retry with backoff.
///
/// Requests are handled a batch at a time, in stages, so Redis and the thread pool
/// see one round trip per stage rather than one per message: profiles for the
/// whole batch; then, per channel, waves of at most as many messages as the
/// channel has connections, one shard's messages together: the wave's limits
/// (one round trip, one script call), its claims with the caps (one round trip,
/// a script call per shard), its provider calls at once, and its outcomes (one
/// round trip, a call per shard). A wave is
/// claimed only when it can be sent at once, so a crash leaves at most one wave's
/// outcomes unknown, and its limit slots are taken just before its calls.
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
    /// Per channel: how many messages one wave holds, and the lanes waves wait
    /// for (shared by the consumer and the retry poller, and by the channels that
    /// share connections): lanes × size is the connections, so claims in flight
    /// never exceed them.
    let waves: [Channel: (size: Int, lane: SlotPool)]
    let settings: SenderSettings
    let from: EmailAddress
    let metrics: SenderMetrics
    /// When each shard next has a parked message due, for the retry poller.
    let dueTimes: DueTimes
    /// Claims whose answer was lost, this process's to take back.
    let unanswered = UnansweredClaims()
    let logger: Logger

    /// The wall clock that decides what is due (injected; `.system` in production).
    var clock = WallClock.system

    /// What to do with one request, decided from the request and the profile.
    enum Plan {
        /// It ends here, without a provider call (invalid, opted out, no template...).
        case finish(MessageState, String)
        /// A provider call, under these limits.
        case call(Call)
    }

    /// A provider call and the limits it is subject to. A class: each call passes
    /// through several lists on its way through a wave, and copying a struct of
    /// these fields retained every one of them each time.
    final class Call: Sendable {
        let rates: [RateLimiter.Rate]
        let unique: RateLimiter.UniqueRecipients?
        /// The provider's status callbacks will name the message (`MessageReference`),
        /// so its provider id needs no mapping back (`MessageStore.Transition.mapProviderId`).
        let callbacksNameMessage: Bool
        let action: Action
        /// The request's JSON text as it came, kept with its claim (nil: serialized).
        let requestText: String?

        init(rates: [RateLimiter.Rate] = [], unique: RateLimiter.UniqueRecipients? = nil, callbacksNameMessage: Bool = false, action: Action, requestText: String? = nil) {
            self.rates = rates
            self.unique = unique
            self.callbacksNameMessage = callbacksNameMessage
            self.action = action
            self.requestText = requestText
        }

        /// The same call, with the request's text as it came.
        func with(requestText: String) -> Call {
            Call(rates: rates, unique: unique, callbacksNameMessage: callbacksNameMessage, action: action, requestText: requestText)
        }

        enum Action: Sendable {
            /// An HTTP request — built when the wave calls, so a signature's
            /// timestamp is fresh — and how its result reads. A wave's requests go
            /// out together (`HTTPClient.send(many:)`).
            case http(request: @Sendable () -> HTTPRequest, outcome: @Sendable (Result<HTTPClientResponse, HTTPClientError>) -> Outcome)
            /// An email to hand to the SMTP server; a wave's emails go out
            /// together (`SMTPClient.send(many:)`).
            case smtp(SMTPEnvelope)
        }
    }

    /// Handles requests; a failure (Redis down) is thrown and the caller retries the
    /// whole batch: messages that already ended are skipped by their state.
    /// - Parameter texts: each request's JSON text as it came, when known (stored
    ///   as the message's `request` instead of serializing it again).
    func process(_ requests: [SendRequest], texts: [String] = []) async throws {
        guard !requests.isEmpty else { return }
        // A stop or pause the admin API answered before this batch was read applies to it (`CampaignCatalog`).
        let campaigns = try await catalog.refresh()
        // A notification with its content ready needs nothing from the profile.
        let wanted = Set(requests.filter { !($0.to != nil && $0.content != nil) }.map(\.contactId))
        let profiles = try await contacts.get(many: Array(wanted))
        var endings: [MessageStore.Transition] = []
        var calls: [Channel: [(SendRequest, Call)]] = [:]
        for (i, request) in requests.enumerated() {
            let plan: Plan
            // A stopped campaign's queued messages are cancelled, not sent.
            if let entry = campaigns[request.campaignId], entry.state == .stopped || entry.retired[request.version] == .now {
                plan = .finish(.cancelled, "the campaign was stopped")
            } else {
                plan = try await self.plan(request, profile: profiles[request.contactId])
            }
            switch plan {
            case .finish(let state, let reason): endings.append(.init(request, state, reason: reason))
            case .call(let call):
                calls[request.channel, default: []].append((request, i < texts.count ? call.with(requestText: texts[i]) : call))
            }
        }
        try await write(endings)
        // Each wave waits on round trips most of its time: several run at once
        // (as many as a channel has lanes), so Redis, the provider and this
        // process stay busy.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (channel, unsorted) in calls {
                let list = byShard(unsorted)
                let size = waves[channel]?.size ?? 1
                for start in stride(from: 0, to: list.count, by: size) {
                    group.addTask { try await wave(Array(list[start..<min(list.count, start + size)]), channel: channel) }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The calls ordered by the contact's shard (in their order within a shard),
    /// so that under load a wave holds one shard's messages and its claims and
    /// outcomes are one script call each (`MessageStore` batches per shard);
    /// a small batch still fills its waves, from several shards.
    func byShard(_ calls: [(SendRequest, Call)]) -> [(SendRequest, Call)] {
        var buckets: [Int: [(SendRequest, Call)]] = [:]
        for call in calls { buckets[Shard.of(call.0.contactId, partitions: messages.partitions), default: []].append(call) }
        return buckets.keys.sorted().flatMap { buckets[$0] ?? [] }
    }

    func plan(_ request: SendRequest, profile: ContactProfile?) async throws -> Plan {
        if Self.isMarketing(request), let consent = profile?.consent,
            consent[request.channel.rawValue] == .bool(false) || consent["marketing"] == .bool(false)
        {
            return .finish(.cancelled, "the contact opted out of \(request.channel.rawValue) marketing")
        }
        switch request.channel {
        case .email: return planEmail(request, profile: profile)
        case .webhook: return planWebhook(request, profile: profile)
        case .whatsapp: return try await planWhatsApp(request, profile: profile)
        case .sms: return planSMS(request, profile: profile)
        }
    }

    /// Transactional messages and internal notifications (`to` set: an alert to a
    /// colleague) ignore marketing opt-outs and caps; everything else is marketing.
    static func isMarketing(_ request: SendRequest) -> Bool { request.to == nil && request.category != "transactional" }

    func planEmail(_ request: SendRequest, profile: ContactProfile?) -> Plan {
        if let address = request.to, let content = request.content {
            return planPrepared(request, to: address, content: content)
        }
        let to: EmailAddress
        do {
            to = try EmailAddress(request.to ?? profile?.email ?? "")
        } catch {
            return .finish(.invalidRecord, request.to == nil && profile?.email == nil ? "the contact has no email address" : "\(error)")
        }
        var data: [String: JSONValue] = [
            "contact": profile?.json ?? ["id": .string(request.contactId)], "event": .object(request.event),
            "campaign_id": .string(request.campaignId), "send_id": .string(request.id),
        ]
        let unsubscribe = Self.isMarketing(request) ? settings.unsubscribeURL(contact: request.contactId, send: request.id) : nil
        if let unsubscribe { data["unsubscribe_url"] = .string(unsubscribe) }
        guard let rendered = templates.render(request.template, data: .object(data)) else {
            return .finish(.sendingFailed, "no email template '\(request.template)' (subject.mustache and text.mustache)")
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
                sendId: request.id, unsubscribeURL: unsubscribe, date: clock.date()
            ).rendered()
        } catch {
            return .finish(.sendingFailed, "\(error)")
        }
        return emailCall(message, to: to, request)
    }

    func emailCall(_ message: [UInt8], to: EmailAddress, _ request: SendRequest) -> Plan {
        .call(Call(rates: emailRates(request, domain: to.domain), action: .smtp(SMTPEnvelope(from: from.address, to: [to.address], message: message))))
    }

    static func outcome(_ smtp: SMTPOutcome) -> Outcome {
        switch smtp {
        case .accepted: .sent(nil)
        case .temporary(let reason): .retry(reason)
        case .unavailable(let reason): .deferred("the SMTP server could not be reached: \(reason)")
        case .permanent(let reason): .failed(reason)
        case .unknown(let reason): .unknown(reason)
        }
    }

    /// An internal notification (a sales alert): rendered by whoever asked for it,
    /// sent to `request.to` — no consent check, unsubscribe link or tracking, since
    /// the reader is a colleague, not the contact. Limits, retries and states apply.
    func planPrepared(_ request: SendRequest, to address: String, content: PreparedEmail) -> Plan {
        let message: [UInt8]
        let to: EmailAddress
        do {
            to = try EmailAddress(address)
            var email = EmailMessage(from: from, to: to, subject: content.subject, text: content.text, html: content.html, sendId: request.id, date: clock.date())
            email.attachments = content.attachments
            message = try email.rendered()
        } catch {
            return .finish(.invalidRecord, "\(error)")
        }
        return emailCall(message, to: to, request)
    }

    func emailRates(_ request: SendRequest, domain: String) -> [RateLimiter.Rate] {
        var rates = channelRates(request)
        if settings.emailPerDomainPerSecond > 0 {
            rates.append(.init(name: "email-domain:\(domain.lowercased())", limit: settings.emailPerDomainPerSecond, window: .seconds(1)))
        }
        return rates
    }

    /// A JSON POST to the step's URL, signed: `X-Herald-Signature: sha256=<hex>` is
    /// HMAC-SHA256 under `sender.webhook_secret` of `<X-Herald-Timestamp>.<body>`;
    /// `Idempotency-Key` carries the send id. Retried on 5xx, 429 and timeouts only.
    func planWebhook(_ request: SendRequest, profile: ContactProfile?) -> Plan {
        let url = request.template
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            return .finish(.sendingFailed, "webhook URL '\(url)' is not http(s)")
        }
        guard !settings.webhookSecret.isEmpty else {
            return .finish(.sendingFailed, "sender.webhook_secret is not set: webhooks are only sent signed")
        }
        let body: JSONValue = [
            "id": .string(request.id), "campaign_id": .string(request.campaignId), "step_id": .string(request.stepId),
            "contact": profile?.json ?? ["id": .string(request.contactId)], "event": .object(request.event),
        ]
        let bytes = body.serialized()
        let secret = Array(settings.webhookSecret.utf8)
        let timeout = settings.webhookTimeout, policy = settings.webhookAddressPolicy
        return .call(Call(rates: channelRates(request), action: .http(
            request: {
                let timestamp = String(clock.now() / 1000)
                let signature = Hashing.hex(Hashing.hmacSHA256(key: secret, message: Array("\(timestamp).".utf8) + bytes))
                return .postJSON(url, bytes, headers: [
                    ("X-Herald-Timestamp", timestamp), ("X-Herald-Signature", "sha256=\(signature)"), ("Idempotency-Key", request.id),
                ], timeout: timeout, addressPolicy: policy)
            },
            outcome: { result in
                switch result {
                case .success(let response):
                    switch response.status {
                    case 200..<300: .sent(nil)
                    case 429: .deferred("HTTP 429")
                    case 500..<600: .retry("HTTP \(response.status)")
                    default: .failed("HTTP \(response.status): \(String(response.bodyText.prefix(200)))")
                    }
                case .failure(let error): .noResponse(error, idempotent: true)  // Idempotency-Key
                }
            })))
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
        /// The provider may have the message, and sending again could deliver it
        /// twice: ends `sending_failed` "outcome unknown", not retried; a status
        /// callback moves it on if the provider sent it.
        case unknown(String)

        /// No HTTP response, judged by what the provider can have received:
        /// nothing sent is an outage (deferred, no attempt used); a request sent
        /// but unanswered is a failed attempt where the call carries an
        /// idempotency key (`idempotent`: webhooks), and unknown where it does not
        /// (WhatsApp, Twilio).
        static func noResponse(_ error: HTTPClientError, idempotent: Bool) -> Outcome {
            switch error.code {
            case .connection: .deferred("\(error)")
            case .refused: .failed("\(error)")  // an address the policy refuses stays refused
            case .timeout, .other: idempotent ? .retry("\(error)") : .unknown("\(error)")
            }
        }
    }

    func channelRates(_ request: SendRequest) -> [RateLimiter.Rate] {
        settings.channelRates[request.channel].map { [.init(name: request.channel.rawValue, limit: $0, window: .seconds(1))] } ?? []
    }

    /// One wave of a channel's calls: limits, then claims (a round trip each), the
    /// calls at once, then every outcome in one round trip.
    ///
    /// A message over a rate is parked (`retry_scheduled` until its turn at the rate; no
    /// attempt is used up); one over the contact's daily marketing cap is cancelled.
    func wave(_ wave: [(SendRequest, Call)], channel: Channel) async throws {
        let lane = waves[channel]?.lane
        let slot = try await lane?.acquire()
        defer { if let slot { lane?.release(slot) } }
        // One clock reading for the limits and the claims: `attempt_ms` is when the slot was taken.
        let t = clock.now()
        let decisions = try await limiter.acquire(many: wave.map {
            .init(rates: $0.1.rates, unique: $0.1.unique, member: $0.0.id, shard: Shard.of($0.0.contactId, partitions: messages.partitions))
        }, now: t, recheck: settings.parkRecheck)
        // Waiting again, with the metric label saying why.
        var parked: [(MessageStore.Transition, String)] = []
        var admitted: [(SendRequest, Call)] = []
        for (item, decision) in zip(wave, decisions) {
            if case .wait(let ms, let limit) = decision {
                // Looked at again at its turn (however far: a backlog waits once, not
                // once per `park_recheck`); held by a recipient cap, at most
                // `sender.park_recheck` away, so a tier raised at run time applies
                // within that (the limiter shortens those waits).
                parked.append((.init(item.0, .retryScheduled, reason: "throttled by the \(limit) limit", next: t + ms), "throttled"))
            } else {
                admitted.append(item)
            }
        }
        // The contact's daily marketing cap is checked by the claim itself (same
        // shard): a message over it ends cancelled there, without a round trip of
        // its own. (It has taken a rate slot by then: a slot unused, never one too many.)
        let cap = settings.marketingPerContactPerDay
        let day = RFC3339.date(milliseconds: t)
        let caps = admitted.map { item -> MessageStore.ClaimCap? in
            cap > 0 && Self.isMarketing(item.0) ? .init(day: day, limit: cap, reason: "over the daily cap of \(cap) marketing messages for this contact") : nil
        }
        let ids = admitted.map(\.0.id)
        let claims: [MessageStore.Claim]
        do {
            claims = try await messages.claim(
                many: admitted.map(\.0), texts: admitted.map(\.1.requestText), caps: caps, now: t, lease: settings.lease,
                claimant: unanswered.claimant, resuming: unanswered.resuming(ids))
        } catch {
            unanswered.failed(ids)
            throw error
        }
        unanswered.answered(ids)
        var claimed: [(request: SendRequest, call: Call, attempt: Int, deferrals: Int, firstSeen: Int64)] = []
        for (item, claim) in zip(admitted, claims) {
            switch claim {
            case .claimed(let attempt, let deferrals, let firstSeen): claimed.append((item.0, item.1, attempt, deferrals, firstSeen))
            case .overCap:
                metrics.outcome(channel, MessageState.cancelled.rawValue)
                logger.info("sender: message cancelled", metadata: ["herald.send_id": "\(item.0.id)", "herald.reason": "over the daily marketing cap"])
            case .outcomeUnknown:
                metrics.outcome(channel, "unknown")
                logger.warning("sender found a message whose outcome is unknown (a sender died mid-call); marked sending_failed", metadata: ["herald.send_id": "\(item.0.id)"])
            default: break  // not due, another sender has it, or it already ended
            }
        }
        let outcomes = await call(claimed.map(\.call), channel: channel)
        var endings: [MessageStore.Transition] = []
        for (c, outcome) in zip(claimed, outcomes) {
            let request = c.request
            switch outcome {
            case .sent(let providerId):
                // Mapped back for status callbacks ahead of the state (`MessageStore.record`)
                // unless the callbacks name the message themselves.
                endings.append(.init(request, .sent, mayCreate: false, providerId: providerId, mapProviderId: !c.call.callbacksNameMessage))
            case .failed(let reason):
                endings.append(.init(request, .sendingFailed, reason: reason, mayCreate: false))
            case .unknown(let reason):
                metrics.outcome(channel, "unknown")
                endings.append(.init(request, .sendingFailed, reason: "outcome unknown, not retried (the provider may have it): \(reason)", mayCreate: false))
            case .retry(let reason) where c.attempt >= settings.maxAttempts:
                endings.append(.init(request, .error, reason: "\(c.attempt) attempts failed; last: \(reason)", mayCreate: false))
            case .retry(let reason):
                // Exponential backoff with full jitter: uniform in [0, base · 2^(attempt-1)].
                let cap = settings.retryBase.milliseconds << min(c.attempt - 1, 20)
                parked.append((.init(request, .retryScheduled, reason: reason, next: clock.now() + Int64.random(in: 0...max(1, cap)), mayCreate: false), "retry_scheduled"))
            case .deferred(let reason) where clock.now() - c.firstSeen >= settings.giveUpAfter.milliseconds:
                endings.append(.init(request, .error, reason: "deferred by the provider for longer than sender.give_up_after (\(settings.giveUpAfter)); last: \(reason)", mayCreate: false))
            case .deferred(let reason):
                // Backoff grows with each deferral up to a minute, with "equal jitter"
                // (half fixed, half random) so a throttled account is not hit again at once.
                let cap = min(settings.retryBase.milliseconds << min(c.deferrals, 20), 60_000)
                parked.append((.init(request, .retryScheduled, reason: reason, next: clock.now() + cap / 2 + Int64.random(in: 0...max(1, cap / 2)), deferred: true, mayCreate: false), "deferred"))
            }
        }
        try await write(endings, waiting: parked)
    }

    /// Makes a wave's calls, each once: the HTTP requests go out together and the
    /// emails together (one suspension for each kind). Outcomes in the calls' order.
    func call(_ calls: [Call], channel: Channel) async -> [Outcome] {
        var requests: [HTTPRequest] = []
        var readers: [(index: Int, outcome: @Sendable (Result<HTTPClientResponse, HTTPClientError>) -> Outcome)] = []
        var envelopes: [SMTPEnvelope] = []
        var emails: [Int] = []
        for (i, c) in calls.enumerated() {
            switch c.action {
            case .http(let request, let outcome):
                requests.append(request())
                readers.append((i, outcome))
            case .smtp(let envelope):
                envelopes.append(envelope)
                emails.append(i)
            }
        }
        async let exchanges = http.send(many: requests)
        async let handOffs = smtp.send(many: envelopes)
        var outcomes = [Outcome](repeating: .retry("the call did not finish"), count: calls.count)
        for (reader, exchange) in zip(readers, await exchanges) {
            outcomes[reader.index] = reader.outcome(exchange.result)
            metrics.providerLatency(channel, exchange.duration)
        }
        for (i, handOff) in zip(emails, await handOffs) {
            outcomes[i] = Self.outcome(handOff.outcome)
            metrics.providerLatency(channel, handOff.duration)
        }
        return outcomes
    }

    /// Records transitions in one round trip and counts them: endings once (a
    /// replay of a message that already ended changes nothing and counts nothing),
    /// waits each time, under their label (`throttled`, `retry_scheduled`, `deferred`).
    func write(_ endings: [MessageStore.Transition], waiting: [(MessageStore.Transition, String)] = []) async throws {
        let all = endings + waiting.map(\.0)
        guard !all.isEmpty else { return }
        let t = clock.now()
        let after = try await messages.record(many: all, now: t)
        for (transition, label) in waiting {
            metrics.outcome(transition.request.channel, label)
            if let next = transition.next { dueTimes.note(shard: Shard.of(transition.request.contactId, partitions: messages.partitions), at: next) }
        }
        for (transition, state) in zip(endings, after) where state == transition.state {
            let request = transition.request
            metrics.outcome(request.channel, state.rawValue)
            if state == .sent {
                if request.originMs > 0 { metrics.handOffLatency(milliseconds: t - request.originMs) }
            } else {
                logger.info("sender: message \(state.rawValue)", metadata: ["herald.send_id": "\(request.id)", "herald.reason": "\(transition.reason)", "herald.state": "\(state.rawValue)"])
            }
        }
    }
}
