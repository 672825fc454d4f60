import HeraldCore

/// Alert rules, and the alerter's per-contact state, in Redis.
///
/// - `herald:{alerts}:rules`: hash rule id → rule JSON; `herald:{alerts}:version`
///   counts changes, so alerters reload only when it moved.
/// - `herald:alert:{s}:act:<contact>`: the contact's recent events (capped at 20, newest
///   first, 30 days); alerts show the last 10 distinct ones.
/// - `herald:alert:{s}:visit:<contact>`: the view whose time on the page is not known yet;
///   `herald:alert:{s}:due`: contact → when that visit times out.
/// - `herald:alert:{s}:cap:<rule>:<contact>:<period>`: set of the visits alerted in
///   that period (the frequency cap; a replayed visit is a member already).
/// - `herald:alert:stats:<rule>:<local day>`: hash `matched`, `sent`, `suppressed`,
///   `too_short`, `no_recipient` (400 days).
public struct AlertStore: Sendable {
    let redis: RedisPool
    /// The shard count (`kafka.partitions`): visits and deadlines are kept per shard.
    public let partitions: Int

    /// A store on `redis` with `partitions` shards.
    public init(redis: RedisPool, partitions: Int) {
        self.redis = redis
        self.partitions = partitions
    }

    static let rulesKey = "herald:{alerts}:rules"
    static let versionKey = "herald:{alerts}:version"

    // MARK: Rules

    /// Saves a rule (a new one or a replacement).
    /// - Returns: true when it replaced one.
    @discardableResult
    public func put(_ rule: AlertRule) async throws -> Bool {
        let replies = try await redis.pipeline([["HSET", Self.rulesKey, rule.id, rule.json.jsonString], ["INCR", Self.versionKey]])
        if case .error(let m) = replies[0] { throw RedisError(code: .server, message: m) }
        return replies[0].int == 0
    }

    /// The rule `id`, or nil when there is none.
    public func rule(_ id: String) async throws -> AlertRule? {
        guard let text = try await redis.execute(["HGET", Self.rulesKey, id]).string else { return nil }
        return try AlertRule(json: try JSONValue.parse(string: text))
    }

    /// Every stored rule, by id (one that no longer reads is skipped).
    public func rules() async throws -> [AlertRule] {
        let flat = try await redis.execute(["HGETALL", Self.rulesKey]).array ?? []
        var out: [AlertRule] = []
        for i in stride(from: 1, to: flat.count, by: 2) {
            if let text = flat[i].string, let json = try? JSONValue.parse(string: text), let rule = try? AlertRule(json: json) { out.append(rule) }
        }
        return out.sorted { $0.id < $1.id }
    }

    /// - Returns: false when there was no such rule.
    public func delete(_ id: String) async throws -> Bool {
        let replies = try await redis.pipeline([["HDEL", Self.rulesKey, id], ["INCR", Self.versionKey]])
        return replies[0].int == 1
    }

    /// The rule set's version: every save and delete increments it, so alerters reload when it moves.
    public func version() async throws -> Int64 { try await redis.execute(["GET", Self.versionKey]).int ?? 0 }

    // MARK: Per contact

    func tag(_ contactId: String) -> String { Shard.hashTag(Shard.of(contactId, partitions: partitions)) }

    /// Appends events to their contacts' recent-activity lists (one round trip).
    /// - Parameter entries: each entry's JSON text (an object with at least `id`).
    public func recordActivity(_ entries: [(contactId: String, entry: [UInt8])]) async throws {
        guard !entries.isEmpty else { return }
        // One LPUSH per contact with all its new entries, oldest first (so the newest ends up first).
        // Built as bytes: this runs for every event, and each String would be copied to bytes again.
        var byContact: [String: [[UInt8]]] = [:]
        var order: [String] = []
        for (contact, entry) in entries {
            if byContact[contact] == nil { order.append(contact) }
            byContact[contact, default: []].append(entry)
        }
        let lpush = Array("LPUSH".utf8), ltrim = Array("LTRIM".utf8), expire = Array("EXPIRE".utf8)
        let zero = Array("0".utf8), last = Array(String(Self.activityKept - 1).utf8), ttl = Array(String(30 * 86_400).utf8)
        var commands: [[[UInt8]]] = []
        for contact in order {
            let key = Array("herald:alert:\(tag(contact)):act:\(contact)".utf8)
            commands.append([lpush, key] + byContact[contact]!.suffix(Self.activityKept))
            commands.append([ltrim, key, zero, last])
            commands.append([expire, key, ttl])
        }
        try check(try await redis.pipeline(bytes: commands))
    }

    /// Entries kept per contact: twice what an alert shows, so a batch replayed
    /// after a failure (its events recorded twice) still leaves 10 distinct ones.
    static let activityKept = 20

    /// The contact's last 10 distinct events (by `id`), newest first.
    public func activity(_ contactId: String) async throws -> [JSONValue] {
        let items = try await redis.execute(["LRANGE", "herald:alert:\(tag(contactId)):act:\(contactId)", "0", String(Self.activityKept - 1)]).array ?? []
        var seen: Set<String> = []
        var out: [JSONValue] = []
        for item in items {
            guard let entry = item.string.flatMap({ try? JSONValue.parse(string: $0) }) else { continue }
            if let id = entry["id"]?.stringValue, !seen.insert(id).inserted { continue }
            out.append(entry)
            if out.count == 10 { break }
        }
        return out
    }

    /// The waiting visits of these contacts (one round trip).
    public func visits(_ contactIds: [String]) async throws -> [String: PageVisit] {
        let replies = try await redis.pipeline(contactIds.map { ["GET", "herald:alert:\(tag($0)):visit:\($0)"] })
        var out: [String: PageVisit] = [:]
        for (id, reply) in zip(contactIds, replies) {
            if case .bulk(let bytes) = reply, let v = Self.decodeVisit(bytes) { out[id] = v }
        }
        return out
    }

    /// A waiting visit is stored as `<event id>\n<JSON>`, so the compare-and-set
    /// script compares a prefix instead of decoding JSON on every change.
    static func encodeVisit(_ v: PageVisit) -> String { v.eventId + "\n" + String(decoding: v.encoded(), as: UTF8.self) }

    static func decodeVisit(_ text: String) -> PageVisit? { decodeVisit(Array(text.utf8)) }

    /// On the stored bytes: read for every page event's contact.
    static func decodeVisit(_ bytes: [UInt8]) -> PageVisit? {
        guard let newline = bytes.firstIndex(of: 0x0A) else { return nil }
        return try? PageVisit(decoding: bytes[(newline + 1)...])
    }

    /// One contact's change of waiting visit: from the one read (`expected`) to `next`.
    public struct VisitChange: Sendable {
        /// The contact whose visit changes.
        public var contactId: String
        /// The waiting visit as read (nil: none); the change applies only if it is still there.
        public var expected: PageVisit?
        /// The visit to wait on now (nil: none).
        public var next: PageVisit?
        /// When `next` times out (UTC ms).
        public var deadline: Int64
        /// A change of `contactId`'s waiting visit from `expected` to `next`, timing out at `deadline`.
        public init(contactId: String, expected: PageVisit?, next: PageVisit?, deadline: Int64) {
            self.contactId = contactId
            self.expected = expected
            self.next = next
            self.deadline = deadline
        }
    }

    /// Applies each change only if the contact's waiting visit is still the one
    /// read (compare by event id), so a timeout sweep that took it in between wins.
    /// One script call per shard (a shard's keys share a hash tag) for up to
    /// `changesPerCall` changes: half of all page views change a visit, and a
    /// script call per change cost Redis more than the change itself.
    /// - Returns: the contacts whose change applied.
    public func replaceVisits(_ changes: [VisitChange], now: Int64) async throws -> Set<String> {
        var byTag: [String: [VisitChange]] = [:]
        for c in changes { byTag[tag(c.contactId), default: []].append(c) }
        var calls: [(keys: [String], arguments: [String])] = []
        var callChanges: [ArraySlice<VisitChange>] = []
        for (t, mine) in byTag {
            for start in stride(from: 0, to: mine.count, by: Self.changesPerCall) {
                let part = mine[start..<min(mine.count, start + Self.changesPerCall)]
                var keys = ["herald:alert:\(t):due"]
                var arguments: [String] = []
                keys.reserveCapacity(part.count + 1)
                arguments.reserveCapacity(part.count * 5)
                for c in part {
                    keys.append("herald:alert:\(t):visit:\(c.contactId)")
                    arguments += [
                        c.contactId, c.expected?.eventId ?? "", c.next.map(Self.encodeVisit) ?? "", String(c.deadline),
                        // Kept a day past its deadline, in case no sweep runs (no alerter owns the shard).
                        String(max(60_000, c.deadline.subtractingClamped(now).addingClamped(86_400_000))),
                    ]
                }
                calls.append((keys, arguments))
                callChanges.append(part)
            }
        }
        let replies = try await redis.evalMany(Self.replaceVisitsScript, calls: calls)
        var applied: Set<String> = []
        for (part, reply) in zip(callChanges, replies) {
            if case .error(let m) = reply { throw RedisError(code: .server, message: m) }
            for (c, one) in zip(part, reply.array ?? []) where one.int == 1 { applied.insert(c.contactId) }
        }
        return applied
    }

    /// Changes per `replaceVisits` script call: bounds how long one call holds Redis.
    static let changesPerCall = 256

    /// Takes (removes and returns) up to `limit` visits of `shard` whose deadline passed.
    public func takeTimedOut(shard: Int, now: Int64, limit: Int = 500) async throws -> [(contactId: String, visit: PageVisit)] {
        let t = Shard.hashTag(shard)
        let reply = try await redis.eval(
            Self.takeTimedOutScript, keys: ["herald:alert:\(t):due"], arguments: [String(now), String(limit), "herald:alert:\(t):visit:"])
        let flat = reply.array ?? []
        var out: [(String, PageVisit)] = []
        for i in stride(from: 1, to: flat.count, by: 2) {
            if let contact = flat[i - 1].string, let v = flat[i].string.flatMap(Self.decodeVisit) {
                out.append((contact, v))
            }
        }
        return out
    }

    /// Counts an alert against its frequency cap, exactly across processes.
    /// - Returns: `.allowed` (first time for this visit, within the cap),
    ///   `.again` (this visit was already allowed: a replay — send again, the send
    ///   id makes it one email), or `.suppressed`.
    public func admit(rule: AlertRule, contactId: String, visitId: String, periodKey: String, periodEndsAt: Int64, now: Int64) async throws -> Admission {
        let key = "herald:alert:\(tag(contactId)):cap:\(rule.id):\(contactId):\(periodKey)"
        let ttl = max(60, (periodEndsAt - now) / 1000 + 86_400)
        return try await CappedSet.admit(redis, key: key, member: visitId, limit: rule.frequency.times, ttlSeconds: ttl)
    }

    /// Whether a frequency cap let an alert through.
    public typealias Admission = CappedSet.Admission

    // MARK: Analytics

    /// The daily statistics each rule keeps (`herald:alert:stats:…` fields).
    public enum Counter: String, Sendable, CaseIterable { case matched, sent, suppressed, tooShort = "too_short", noRecipient = "no_recipient" }

    /// Adds to per-rule, per-day counters (one round trip).
    public func count(_ increments: [(ruleId: String, day: String, counter: Counter, by: Int)]) async throws {
        guard !increments.isEmpty else { return }
        // Summed per key and counter first: a batch often counts one rule many times.
        var sums: [String: [Counter: Int]] = [:]
        for i in increments { sums["herald:alert:stats:\(i.ruleId):\(i.day)", default: [:]][i.counter, default: 0] += i.by }
        var commands: [[String]] = []
        for (key, counters) in sums {
            for (counter, by) in counters { commands.append(["HINCRBY", key, counter.rawValue, String(by)]) }
            commands.append(["EXPIRE", key, String(400 * 86_400)])
        }
        try check(try await redis.pipeline(commands))
    }

    /// Counters of `days` (local dates, `2026-11-23`), in that order.
    public func stats(ruleId: String, days: [String]) async throws -> [(day: String, counts: [Counter: Int64])] {
        let replies = try await redis.pipeline(days.map { ["HGETALL", "herald:alert:stats:\(ruleId):\($0)"] })
        return zip(days, replies).map { day, reply in
            let flat = reply.array ?? []
            var counts: [Counter: Int64] = [:]
            for c in Counter.allCases { counts[c] = 0 }
            for i in stride(from: 1, to: flat.count, by: 2) {
                if let name = flat[i - 1].string, let c = Counter(rawValue: name) { counts[c] = flat[i].int ?? 0 }
            }
            return (day, counts)
        }
    }

    func check(_ replies: [RedisValue]) throws {
        for case .error(let m) in replies { throw RedisError(code: .server, message: m) }
    }

    // MARK: Scripts

    /// KEYS: due, then one visit key per change. ARGV: five per change — contact,
    /// expected event id ('' none), next visit ('' none), deadline, ttl ms.
    /// Returns 1 or 0 per change. The sorted-set updates go in one ZADD and one ZREM.
    static let replaceVisitsScript = RedisScript(name: "alert_replace_visits", source: LuaSource.alertReplaceVisits)

    /// KEYS: due. ARGV: now, limit, visit key prefix. Returns contact, visit, contact, visit, ...
    static let takeTimedOutScript = RedisScript(name: "alert_take_timed_out", source: LuaSource.alertTakeTimedOut)

    // MARK: Erasure

    /// Erases the contact's recent activity and open page visit, and takes it out
    /// of the shard's visit timeouts. Frequency caps (`…:cap:<rule>:<contact>:…`)
    /// hold only a count and expire a day after their period.
    public func erase(contactId: String) async throws {
        let t = tag(contactId)
        let commands = [
            ["DEL", "herald:alert:\(t):act:\(contactId)", "herald:alert:\(t):visit:\(contactId)"], ["ZREM", "herald:alert:\(t):due", contactId],
        ]
        for case .error(let message) in try await redis.pipeline(commands) { throw RedisError(code: .server, message: "erase: \(message)") }
    }
}
