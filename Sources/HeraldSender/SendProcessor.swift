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
    /// Each channel's and account's provider: what a request becomes on the wire
    /// and what the answer means (`HeraldChannels`), and the account's own rate. A
    /// request for a channel or account without one ends `sending_failed`.
    let providers: ProviderRegistry
    let smtp: SMTPClient
    let http: HTTPClient
    let limiter: RateLimiter
    /// Per channel: how many messages one wave holds, and the lanes waves wait
    /// for (shared by the consumer and the retry poller, and by the channels that
    /// share connections): lanes × size is the connections, so claims in flight
    /// never exceed them.
    let waves: [Channel: (size: Int, lane: SlotPool)]
    let settings: SenderSettings
    let metrics: SenderMetrics
    /// When each shard next has a parked message due, for the retry poller.
    let dueTimes: DueTimes
    /// Claims whose answer was lost, this process's to take back.
    let unanswered = UnansweredClaims()
    let logger: Logger

    /// The wall clock that decides what is due (injected; `.system` in production).
    var clock = WallClock.system

    /// A request on its way through a wave: its provider call, and its JSON text
    /// as it came (kept with its claim; nil: serialized).
    typealias Pending = (request: SendRequest, call: ProviderCall, text: String?)

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
        var held: [SendRequest] = []
        var windowHeld: [(SendRequest, Int64)] = []
        var stoppedWaits: [(MessageStore.Transition, String)] = []
        let stopped = try await limiter.stoppedAccounts()
        var calls: [Channel: [Pending]] = [:]
        let broadcasts = catalog.broadcastStates()
        let now = clock.now()
        for (i, request) in requests.enumerated() {
            let plan: SendPlan
            // A stopped campaign's queued messages are cancelled, not sent.
            if let entry = campaigns[request.campaignId], entry.state == .stopped || entry.retired[request.version] == .now {
                plan = .finish(.cancelled, "the campaign was stopped")
            } else if let broadcast = Self.broadcastId(request.campaignId), broadcasts[broadcast]?.sends != true {
                // A broadcast's message goes out only while it runs. Paused (or not
                // yet started): held, untouched, until a resume makes it due again;
                // cancelled (or deleted): cancelled.
                switch broadcasts[broadcast] {
                case .draft?, .scheduled?, .paused?:
                    held.append(request)
                    continue
                case .finished?:
                    plan = try await self.plan(request, profile: profiles[request.contactId])
                case .cancelled?, .running?, nil:
                    plan = .finish(.cancelled, "cancelled by the administrator")
                }
            } else if let key = stopKey(request), let why = stopped[key] {
                // Its number was stopped by the provider (131048): waits, no attempt
                // used, looked at again after `park_recheck` (or an operator's resume).
                stoppedWaits.append(
                    (
                        .init(
                            request, .retryScheduled, reason: "\(key) is stopped (\(why.reason)); heraldctl limits resume --account \(key)",
                            next: now.addingClamped(settings.parkRecheck.milliseconds), deferred: true), "stopped"
                    ))
                continue
            } else if let opens = Self.windowOpens(request, profile: profiles[request.contactId], now: now), opens > now {
                // Outside its send window in the recipient's time zone: untouched until the window opens.
                windowHeld.append((request, opens))
                continue
            } else {
                plan = try await self.plan(request, profile: profiles[request.contactId])
            }
            switch plan {
            case .finish(let state, let reason): endings.append(.init(request, state, reason: reason))
            case .call(let call):
                calls[request.channel, default: []].append((request, call, i < texts.count ? texts[i] : nil))
            }
        }
        try await write(endings, waiting: stoppedWaits)
        // In one round trip: a held broadcast's messages are looked at again after
        // `park_recheck` unless a resume makes them due first (every resume does),
        // those outside their window when it opens.
        let recheck = clock.now().addingClamped(settings.parkRecheck.milliseconds)
        try await messages.hold(held.map { ($0, recheck) } + windowHeld.map { ($0.0, $0.1) })
        for (request, opens) in windowHeld { dueTimes.note(shard: Shard.of(request.contactId, partitions: messages.partitions), at: opens) }
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

    /// The key a stop of `request`'s sending account is kept under
    /// (`<channel>:<account label>`: `whatsapp:<phone number id>`); nil without a provider.
    func stopKey(_ request: SendRequest) -> String? {
        guard case .success(let entry) = providers.entry(for: request) else { return nil }
        return "\(request.channel.rawValue):\(entry.label)"
    }

    /// When a request with a send window may go out next: now if inside it, the
    /// window's next start in the contact's time zone (else the request's, else
    /// UTC) if outside; nil without a window.
    static func windowOpens(_ request: SendRequest, profile: ContactProfile?, now: Int64) -> Int64? {
        guard !request.window.isEmpty, let window = WaitUntil.window(request.window) else { return nil }
        let zone = profile?.timeZone ?? (request.timeZone.isEmpty ? "UTC" : request.timeZone)
        return LocalTime.nextMoment(after: now, satisfying: WaitUntil(window: window), timeZone: zone)
    }

    /// The broadcast a campaign id names (`Broadcast.campaignId`), or nil for a journey's or an alert's.
    static func broadcastId(_ campaignId: String) -> String? {
        campaignId.hasPrefix(Broadcast.campaignPrefix) ? String(campaignId.dropFirst(Broadcast.campaignPrefix.count)) : nil
    }

    /// The calls ordered by the contact's shard (in their order within a shard),
    /// so that under load a wave holds one shard's messages and its claims and
    /// outcomes are one script call each (`MessageStore` batches per shard);
    /// a small batch still fills its waves, from several shards.
    func byShard(_ calls: [Pending]) -> [Pending] {
        var buckets: [Int: [Pending]] = [:]
        for call in calls { buckets[Shard.of(call.0.contactId, partitions: messages.partitions), default: []].append(call) }
        return buckets.keys.sorted().flatMap { buckets[$0] ?? [] }
    }

    /// Consent first (it is the same for every channel), then the channel's provider.
    func plan(_ request: SendRequest, profile: ContactProfile?) async throws -> SendPlan {
        if request.isMarketing, let consent = profile?.consent,
            consent[request.channel.rawValue] == .bool(false) || consent["marketing"] == .bool(false)
        {
            return .finish(.cancelled, "the contact opted out of \(request.channel.rawValue) marketing")
        }
        switch providers.entry(for: request) {
        case .success(let entry): return try await entry.provider.plan(request, profile: profile)
        case .failure(let miss): return .finish(.sendingFailed, miss.description)
        }
    }

    /// The account's own rate (`limits.<channel>_per_second`, or an account file's
    /// `per_second`) ahead of the provider's limits.
    func rates(_ request: SendRequest, _ call: ProviderCall) -> [RateLimiter.Rate] {
        guard case .success(let entry) = providers.entry(for: request), let limit = entry.perSecond else { return call.rates }
        return [.init(name: entry.rateName, limit: limit, window: .seconds(1))] + call.rates
    }

    /// One wave of a channel's calls: limits, then claims (a round trip each), the
    /// calls at once, then every outcome in one round trip.
    ///
    /// A message over a rate is parked (`retry_scheduled` until its turn at the rate; no
    /// attempt is used up); one over the contact's daily marketing cap is cancelled.
    func wave(_ wave: [Pending], channel: Channel) async throws {
        let lane = waves[channel]?.lane
        let slot = try await lane?.acquire()
        defer { if let slot { lane?.release(slot) } }
        // One clock reading for the limits and the claims: `attempt_ms` is when the slot was taken.
        let t = clock.now()
        let decisions = try await limiter.acquire(
            many: wave.map {
                .init(
                    rates: rates($0.request, $0.call), unique: $0.call.unique, member: $0.request.id,
                    shard: Shard.of($0.request.contactId, partitions: messages.partitions))
            }, now: t, recheck: settings.parkRecheck)
        // Waiting again, with the metric label saying why.
        var parked: [(MessageStore.Transition, String)] = []
        var admitted: [Pending] = []
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
            cap > 0 && item.request.isMarketing ? .init(day: day, limit: cap, reason: "over the daily cap of \(cap) marketing messages for this contact") : nil
        }
        let ids = admitted.map(\.request.id)
        let claims: [MessageStore.Claim]
        do {
            claims = try await messages.claim(
                many: admitted.map(\.request), texts: admitted.map(\.text), caps: caps, now: t, lease: settings.lease,
                claimant: unanswered.claimant, resuming: unanswered.resuming(ids))
        } catch {
            let partitions = messages.partitions
            unanswered.failed(admitted.map { (Shard.of($0.request.contactId, partitions: partitions), $0.request.id) })
            throw error
        }
        unanswered.answered(ids)
        var claimed: [(request: SendRequest, call: ProviderCall, attempt: Int, deferrals: Int, firstSeen: Int64)] = []
        for (item, claim) in zip(admitted, claims) {
            switch claim {
            case .claimed(let attempt, let deferrals, let firstSeen): claimed.append((item.request, item.call, attempt, deferrals, firstSeen))
            case .overCap:
                metrics.outcome(item.request, MessageState.cancelled.rawValue)
                logger.info("sender: message cancelled", metadata: ["herald.send_id": "\(item.request.id)", "herald.reason": "over the daily marketing cap"])
            case .outcomeUnknown:
                metrics.outcome(item.request, "unknown")
                logger.warning(
                    "sender found a message whose outcome is unknown (a sender died mid-call); marked sending_failed",
                    metadata: ["herald.send_id": "\(item.request.id)"])
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
                metrics.outcome(request, "unknown")
                endings.append(.init(request, .sendingFailed, reason: "outcome unknown, not retried (the provider may have it): \(reason)", mayCreate: false))
            case .retry(let reason) where c.attempt >= settings.maxAttempts:
                endings.append(.init(request, .error, reason: "\(c.attempt) attempts failed; last: \(reason)", mayCreate: false))
            case .retry(let reason):
                // Exponential backoff with full jitter: uniform in [0, base · 2^(attempt-1)].
                let cap = settings.retryBase.milliseconds << min(c.attempt - 1, 20)
                parked.append(
                    (
                        .init(request, .retryScheduled, reason: reason, next: clock.now() + Int64.random(in: 0...max(1, cap)), mayCreate: false),
                        "retry_scheduled"
                    ))
            case .retryAfter(let reason, _) where c.attempt >= settings.maxAttempts:
                endings.append(.init(request, .error, reason: "\(c.attempt) attempts failed; last: \(reason)", mayCreate: false))
            case .retryAfter(let reason, let after):
                // At least `after`, and up to 1/24 more so a crowd of them does not come back at once.
                let wait = after.milliseconds
                parked.append(
                    (
                        .init(request, .retryScheduled, reason: reason, next: clock.now() + wait + Int64.random(in: 0...max(1, wait / 24)), mayCreate: false),
                        "retry_scheduled"
                    ))
            case .accountStopped(let reason):
                let key = stopKey(request) ?? request.channel.rawValue
                try await limiter.stop(account: key, reason: reason, now: clock.now())
                logger.error(
                    "sender stopped a sending account at the provider's word; nothing more goes out from it until `heraldctl limits resume --account \(key)`",
                    metadata: ["herald.account": "\(key)", "herald.reason": "\(reason)", "herald.send_id": "\(request.id)"])
                metrics.accountStopped(key)
                parked.append(
                    (
                        .init(
                            request, .retryScheduled, reason: "\(reason); heraldctl limits resume --account \(key)",
                            next: clock.now().addingClamped(settings.parkRecheck.milliseconds), deferred: true, mayCreate: false), "stopped"
                    ))
            case .deferred(let reason) where clock.now() - c.firstSeen >= settings.giveUpAfter.milliseconds:
                endings.append(
                    .init(
                        request, .error, reason: "deferred by the provider for longer than sender.give_up_after (\(settings.giveUpAfter)); last: \(reason)",
                        mayCreate: false))
            case .deferred(let reason):
                // Backoff grows with each deferral up to a minute, with "equal jitter"
                // (half fixed, half random) so a throttled account is not hit again at once.
                let cap = min(settings.retryBase.milliseconds << min(c.deferrals, 20), 60_000)
                parked.append(
                    (
                        .init(
                            request, .retryScheduled, reason: reason, next: clock.now() + cap / 2 + Int64.random(in: 0...max(1, cap / 2)), deferred: true,
                            mayCreate: false), "deferred"
                    ))
            }
        }
        try await write(endings, waiting: parked)
    }

    /// Makes a wave's calls, each once: the HTTP requests go out together and the
    /// emails together (one suspension for each kind). Outcomes in the calls' order.
    func call(_ calls: [ProviderCall], channel: Channel) async -> [SendOutcome] {
        var requests: [HTTPRequest] = []
        var readers: [(index: Int, outcome: @Sendable (Result<HTTPClientResponse, HTTPClientError>) -> SendOutcome)] = []
        var envelopes: [SMTPEnvelope] = []
        var emails: [(index: Int, outcome: @Sendable (SMTPOutcome) -> SendOutcome)] = []
        for (i, c) in calls.enumerated() {
            switch c.action {
            case .http(let request, let outcome):
                requests.append(request())
                readers.append((i, outcome))
            case .smtp(let envelope, let outcome):
                envelopes.append(envelope)
                emails.append((i, outcome))
            }
        }
        async let exchanges = http.send(many: requests)
        async let handOffs = smtp.send(many: envelopes)
        var outcomes = [SendOutcome](repeating: .retry("the call did not finish"), count: calls.count)
        for (reader, exchange) in zip(readers, await exchanges) {
            outcomes[reader.index] = reader.outcome(exchange.result)
            metrics.providerLatency(channel, exchange.duration)
        }
        for (email, handOff) in zip(emails, await handOffs) {
            outcomes[email.index] = email.outcome(handOff.outcome)
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
            metrics.outcome(transition.request, label)
            if let next = transition.next { dueTimes.note(shard: Shard.of(transition.request.contactId, partitions: messages.partitions), at: next) }
        }
        for (transition, state) in zip(endings, after) where state == transition.state {
            let request = transition.request
            metrics.outcome(request, state.rawValue)
            if state == .sent {
                if request.originMs > 0 { metrics.handOffLatency(milliseconds: t - request.originMs) }
            } else {
                logger.info(
                    "sender: message \(state.rawValue)",
                    metadata: ["herald.send_id": "\(request.id)", "herald.reason": "\(transition.reason)", "herald.state": "\(state.rawValue)"])
            }
        }
    }
}
