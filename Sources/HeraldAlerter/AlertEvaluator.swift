import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging

/// Evaluates `herald.events` against the alert rules, one consumer batch at a time.
///
/// Every event joins its contact's recent activity. A `page_visited` first ends
/// the contact's waiting visit (its time on the page is now known), then is
/// matched against the rules: a rule without a minimum time alerts at once; the
/// others wait on this visit. A `page_left` for the waiting page ends it too.
///
/// Replays are harmless: alerts are admitted by visit id (a replayed visit is
/// admitted again, not counted twice) and sent with send ids derived from it, so
/// the sender sends each once; the waiting visit is replaced only if it is still
/// the one read (compare-and-set against the timeout sweep).
struct AlertEvaluator: Sendable {
    let catalog: RuleCatalog
    let store: AlertStore
    let contacts: ContactStore
    let renderer: AlertRenderer
    let producer: KafkaProducer
    let sessionTimeoutMs: Int64
    let metrics: AlerterMetrics
    var deadLetters: DeadLetterQueue? = nil
    let logger: Logger

    /// Grace after the session timeout before the sweep closes a visit, so a next
    /// view that arrives near the timeout is decided by the view, not raced
    /// (a minute, or the session timeout when that is shorter).
    var sweepGraceMs: Int64 { min(60_000, sessionTimeoutMs) }

    /// The wall clock that decides what is due (injected; `.system` in production).
    var clock = WallClock.system

    func handle(_ batch: [KafkaRecord]) async throws {
        // A contact's events are all in one partition: partitions are independent,
        // so their parts of the batch run concurrently (their Redis round trips
        // overlap); within a partition the order is kept.
        let parts = Dictionary(grouping: batch, by: \.partition)
        if parts.count == 1 { return try await handlePartition(batch) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (_, records) in parts { group.addTask { try await handlePartition(records) } }
            try await group.waitForAll()
        }
    }

    /// The records of one partition, in order.
    func handlePartition(_ batch: [KafkaRecord]) async throws {
        var events: [Event] = []
        var undecodable: [KafkaRecord] = []
        for record in batch {
            // herald.events holds only what the ingestor validated; anything else is kept in herald.dlq.
            guard var e = try? Event(decoding: record.value) else { undecodable.append(record); continue }
            e.timestamp = AlertClock.time(of: e)  // bounded skew: caps and dwell cannot be gamed by the client's clock
            events.append(e)
        }
        try await deadLetters?.send(undecodable.map { ($0, .undecodable, "", "not a canonical event") })
        metrics.evaluated.increment(by: Int64(events.count))
        let pageEvents = events.filter { $0.type == "page_visited" || $0.type == "page_left" }
        let contactIds = Array(Set(pageEvents.map(\.contactId)))
        // Two independent round trips at once: the activity lists (which alerts
        // read below, so both finish first) and the waiting visits.
        async let recorded: Void = store.recordActivity(events.filter(Self.isActivity).map { ($0.contactId, Self.activityEntry($0)) })
        async let waitingVisits = contactIds.isEmpty ? [:] : store.visits(contactIds)
        try await recorded
        let loaded = try await waitingVisits
        guard !pageEvents.isEmpty else { return }
        let index = catalog.index
        var current = loaded
        var alerts: [Alert] = []
        var stats: [(ruleId: String, day: String, counter: AlertStore.Counter, by: Int)] = []

        for event in pageEvents {
            let waiting = current[event.contactId]
            if let w = waiting, event.id == w.eventId || event.timestamp < w.at {
                continue  // a replay of (or something older than) the waiting view: already accounted for
            }
            let url = event.properties["url"]?.stringValue ?? ""
            if event.type == "page_left" {
                guard let w = waiting, url.isEmpty || PageURL(url) == PageURL(w.url) else { continue }
                decide(w, .left(at: event.timestamp), contactId: event.contactId, into: &alerts, &stats)
                current[event.contactId] = nil
                continue
            }
            let session = event.properties["session_id"]?.stringValue
            if let w = waiting {
                decide(w, .nextView(at: event.timestamp, session: session), contactId: event.contactId, into: &alerts, &stats)
            }
            current[event.contactId] = nil
            guard let page = PageURL(url) else { continue }
            var wait: [String: Int64] = [:]
            let visit = PageVisit(eventId: event.id, url: url, at: event.timestamp, session: session, acceptedAt: event.receivedAt, waiting: [:])
            for match in index.matches(page) {
                stats.append((match.rule.id, day(event.timestamp, match.rule), .matched, 1))
                metrics.matched.increment()
                if match.minTimeMs == 0 {
                    alerts.append(Alert(rule: match.rule, contactId: event.contactId, visit: visit, dwellMs: nil, originMs: event.receivedAt))
                } else {
                    wait[match.rule.id] = match.minTimeMs
                }
            }
            if !wait.isEmpty {
                var next = visit
                next.waiting = wait
                current[event.contactId] = next
            }
        }

        // Prepare each contact's alerts in order (the earlier visit takes the cap),
        // different contacts concurrently (each alert is a few Redis round trips);
        // then hand every email to Kafka in one batch — one wait for the broker's
        // acknowledgement, not one per alert.
        var byContact: [String: [Alert]] = [:]
        for alert in alerts { byContact[alert.contactId, default: []].append(alert) }
        let prepared = try await withThrowingTaskGroup(of: [Prepared].self) { group in
            for (_, mine) in byContact {
                group.addTask {
                    var out: [Prepared] = []
                    for alert in mine { out.append(try await prepare(alert)) }
                    return out
                }
            }
            return try await group.reduce(into: [Prepared]()) { $0 += $1 }
        }
        for p in prepared { stats.append(contentsOf: p.stats) }
        for case .failure(let error) in await producer.send(prepared.flatMap(\.records)) { throw error }  // the batch is retried

        let changes = contactIds.compactMap { id -> AlertStore.VisitChange? in
            guard loaded[id]?.eventId != current[id]?.eventId else { return nil }
            let deadline = max(current[id]?.at ?? 0, clock.now()).addingClamped(sessionTimeoutMs).addingClamped(sweepGraceMs)
            return AlertStore.VisitChange(contactId: id, expected: loaded[id], next: current[id], deadline: deadline)
        }
        // Counters and waiting visits touch different keys: one round trip for both.
        async let counted: Void = store.count(stats)
        let applied = try await store.replaceVisits(changes, now: clock.now())
        try await counted
        if applied.count < changes.count {
            logger.debug(
                "alerter: some waiting visits were closed by the timeout sweep meanwhile", metadata: ["herald.count": "\(changes.count - applied.count)"])
        }
    }

    /// One alert to send: a rule, the visit it is about, and when it became due.
    struct Alert: Sendable {
        var rule: AlertRule
        var contactId: String
        var visit: PageVisit
        var dwellMs: Int64?
        var originMs: Int64
    }

    /// Ends a waiting visit: rules whose minimum was reached alert, the others count as too short.
    func decide(
        _ visit: PageVisit, _ end: PageVisit.End, contactId: String, into alerts: inout [Alert],
        _ stats: inout [(ruleId: String, day: String, counter: AlertStore.Counter, by: Int)]
    ) {
        let outcome = visit.decide(end, sessionTimeoutMs: sessionTimeoutMs)
        let decidedAt = clock.now()
        for id in outcome.reached {
            // A rule disabled or deleted while the visit waited sends nothing.
            guard let rule = catalog.rule(id), rule.enabled else { continue }
            alerts.append(Alert(rule: rule, contactId: contactId, visit: visit, dwellMs: outcome.dwellMs, originMs: decidedAt))
        }
        for id in outcome.tooShort {
            guard let rule = catalog.rule(id) else { continue }
            stats.append((id, day(visit.at, rule), .tooShort, 1))
            metrics.tooShort.increment()
        }
    }

    /// An alert made ready: its emails for `herald.sends` and what to count.
    struct Prepared: Sendable {
        var records: [KafkaOutgoingRecord] = []
        var stats: [(ruleId: String, day: String, counter: AlertStore.Counter, by: Int)] = []
    }

    /// Admits the alert against its frequency cap and renders one email per recipient.
    func prepare(_ alert: Alert) async throws -> Prepared {
        let rule = alert.rule
        var out = Prepared()
        let day = day(alert.visit.at, rule)
        let profile = try await contacts.get(alert.contactId)
        let recipients = Self.recipients(rule, owner: profile?.owner)
        guard !recipients.isEmpty else {
            out.stats.append((rule.id, day, .noRecipient, 1))
            logger.warning(
                "alert has no recipient: the contact has no owner with an email address and the rule has no other",
                metadata: [
                    "herald.rule": "\(rule.id)", "herald.contact_id": "\(alert.contactId)",
                ])
            return out
        }
        let period = rule.frequency.per.containing(alert.visit.at, timeZone: rule.timeZone)
        let admission = try await store.admit(
            rule: rule, contactId: alert.contactId, visitId: alert.visit.eventId, periodKey: period.key, periodEndsAt: period.endsAt, now: clock.now())
        switch admission {
        case .suppressed:
            out.stats.append((rule.id, day, .suppressed, 1))
            metrics.suppressed.increment()
            return out
        case .allowed:
            out.stats.append((rule.id, day, .sent, 1))
            metrics.alerted.increment()
        case .again:
            break  // a replay: the same send ids, so the sender sends nothing twice
        }
        let activity = try await store.activity(alert.contactId)
        let data = AlertRenderer.data(rule: rule, visit: alert.visit, dwellMs: alert.dwellMs, profile: profile, contactId: alert.contactId, activity: activity)
        let content = renderer.render(rule, data: data)
        out.records = recipients.map { address in
            var request = SendRequest(
                id: "alert:\(rule.id):\(alert.contactId):\(alert.visit.eventId):\(Hashing.hex(Hashing.sha256(Array(address.lowercased().utf8))).prefix(12))",
                contactId: alert.contactId, campaignId: "alert:\(rule.id)", channel: .email, template: "alert", category: "alert", createdAtMs: clock.now())
            request.to = address
            request.content = content
            request.originMs = alert.originMs
            request.event = ["rule_id": .string(rule.id), "url": .string(alert.visit.url), "visit_id": .string(alert.visit.eventId)]
            return KafkaOutgoingRecord(topic: Topics.sends, key: alert.contactId, value: request.json.serialized())
        }
        return out
    }

    /// Me, the contact's owner (when it is an email address) and CC — each once.
    static func recipients(_ rule: AlertRule, owner: String?) -> [String] {
        var out: [String] = []
        if rule.recipients.me, let me = rule.createdBy { out.append(me) }
        if rule.recipients.owner, let owner, EmailAddress.isValid(owner) { out.append(owner) }
        out += rule.recipients.cc
        var seen: Set<String> = []
        return out.filter { seen.insert($0.lowercased()).inserted }
    }

    /// The rule's local day of `ms`, for per-day analytics.
    func day(_ ms: Int64, _ rule: AlertRule) -> String { AlertPeriod.localDay(ms, timeZone: rule.timeZone) }

    /// What the recent-activity list keeps of an event: type, time and one line
    /// of detail, as the JSON text of `{"at","detail","id","type"}` — written
    /// directly, since every event on `herald.events` gets one.
    /// Whether an event belongs in the contact's recent activity: what the
    /// contact did, not the address book's bookkeeping. Imported rows and their
    /// subscriptions (`properties.source: import`) are left out: an alert would
    /// show them as the contact's latest "activity", and a million-row import
    /// would leave a million lists in Redis for 30 days.
    static func isActivity(_ e: Event) -> Bool {
        e.properties["source"] != "import"
    }

    static func activityEntry(_ e: Event) -> [UInt8] {
        var detail = e.properties["url"]?.stringValue ?? ""
        if detail.isEmpty {
            detail = e.properties.sorted { $0.key < $1.key }.prefix(4).compactMap { k, v -> String? in
                switch v {
                case .string(let s): "\(k)=\(s.prefix(60))"
                case .int(let i): "\(k)=\(i)"
                case .double(let d): "\(k)=\(d)"
                case .bool(let b): "\(k)=\(b)"
                default: nil
                }
            }.joined(separator: ", ")
        }
        var out: [UInt8] = []
        out.reserveCapacity(48 + detail.utf8.count + e.id.utf8.count + e.type.utf8.count)
        out.append(contentsOf: #"{"at":"#.utf8)
        out.append(contentsOf: String(e.timestamp).utf8)
        out.append(contentsOf: #","detail":"#.utf8)
        JSONValue.writeString(detail, to: &out)
        out.append(contentsOf: #","id":"#.utf8)
        JSONValue.writeString(e.id, to: &out)
        out.append(contentsOf: #","type":"#.utf8)
        JSONValue.writeString(e.type, to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
