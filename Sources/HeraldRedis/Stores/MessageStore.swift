import HeraldCore

/// Per-message states in Redis, per shard of the contact (hash tag `{shard}`):
///
/// - `herald:m:{s}:<send id>`: hash — `state`, `attempts`, `deferrals`, `reason`, `next_ms`,
///   `lease_ms`, `updated_ms`, `created_ms`, `contact`, `campaign`, `channel`, `request`.
/// - `herald:mc:{s}:<contact>`: sorted set of the contact's send ids by creation time.
/// - `herald:mstat:{s}:<campaign>`: hash state → how many of the campaign's messages are in it.
/// - `herald:retry:{s}`: sorted set of send ids by the time to look at them again
///   (a scheduled retry, or a claim whose lease runs out).
///
/// Every change is made by a Lua script (several messages of one shard per call),
/// so states only move forward (`MessageState.allows`).
public struct MessageStore: Sendable {
    let redis: RedisPool
    /// The shard count (`kafka.partitions`): records and retry sets are kept per shard.
    public let partitions: Int
    /// How long a message's record is kept once it reached a final state (each
    /// later status, `delivered` or `read`, starts it again). Without it, every
    /// message ever sent would stay in Redis.
    public let retention: Duration

    /// A store on `redis` with `partitions` shards, keeping final records for `retention`.
    public init(redis: RedisPool, partitions: Int, retention: Duration = .seconds(30 * 86_400)) {
        self.redis = redis
        self.partitions = partitions
        self.retention = retention
    }

    func tag(_ contactId: String) -> String { Shard.hashTag(Shard.of(contactId, partitions: partitions)) }

    /// Key names, by the shard's hash tag `t` (`tag`).
    static func recordKey(_ t: String, _ id: String) -> String { "herald:m:\(t):\(id)" }
    static func contactIndexKey(_ t: String, _ contactId: String) -> String { "herald:mc:\(t):\(contactId)" }
    static func campaignCountsKey(_ t: String, _ campaignId: String) -> String { "herald:mstat:\(t):\(campaignId)" }
    static func retryKey(_ t: String) -> String { "herald:retry:\(t)" }

    /// What a claim found.
    public enum Claim: Sendable, Equatable {
        /// This sender may call the provider now: the attempt number, how many
        /// times the provider deferred it so far, and when it was first seen (UTC ms).
        case claimed(attempt: Int, deferrals: Int, firstSeenMs: Int64)
        /// A retry is scheduled for later.
        case notDue
        /// Another sender is calling the provider (its lease is running).
        case busy
        /// A claim's lease ran out with no outcome recorded: the sender that held it
        /// died mid-call. The message is marked `sending_failed` — never sent twice.
        case outcomeUnknown
        /// The message already reached a final state.
        case done(MessageState)
        /// Over its cap (`ClaimCap`): now `cancelled`, with the cap's reason.
        case overCap
    }

    /// A cap the claim checks first: the contact's daily marketing cap — at most
    /// `limit` distinct messages of the contact on `day`. Checked in the claim's
    /// own script (the set has the contact's shard tag, like the message), so a
    /// capped message costs no extra round trip and is never claimed.
    public struct ClaimCap: Sendable, Hashable {
        /// The UTC day the cap counts, `YYYY-MM-DD`.
        public var day: String
        /// Distinct messages allowed that day.
        public var limit: Int
        /// Recorded on a message the cap cancels.
        public var reason: String

        /// A cap of `limit` messages on `day`, cancelling with `reason`.
        public init(day: String, limit: Int, reason: String) {
            self.day = day
            self.limit = limit
            self.reason = reason
        }
    }

    static func capKey(_ t: String, _ r: SendRequest, day: String) -> String { "herald:cap:\(t):\(r.contactId):\(day)" }

    /// Claims a message before the provider is called (creating its record on first sight).
    /// - Parameter lease: how long the claim holds; after it, the outcome counts as unknown.
    public func claim(_ r: SendRequest, now: Int64, lease: Duration) async throws -> Claim {
        try await claim(many: [r], now: now, lease: lease)[0]
    }

    /// `claim` for several messages in one round trip: one script call per shard
    /// (`RedisPool.evalGrouped`), each message in order within it.
    /// - Parameters:
    ///   - caps: per message, a cap to check first (nil: none).
    ///   - texts: per message, the request as JSON text, as it came (a
    ///     `herald.sends` record, a stored request), kept as the record's
    ///     `request`; nil: `request.encoded()` is written. Serializing every request
    ///     again was about 2 % of the sender's CPU (docs/benchmarks.md).
    ///   - claimant: who claims (a sender process's own id), kept with the claim.
    ///   - resuming: per message, true when this claimant claimed it before and
    ///     never got the answer (the call failed, so it made no provider call):
    ///     its own claim is granted again instead of counting as busy or unknown.
    public func claim(
        many requests: [SendRequest], texts: [String?] = [], caps: [ClaimCap?] = [], now: Int64, lease: Duration, claimant: String = "", resuming: [Bool] = []
    ) async throws -> [Claim] {
        func cap(_ i: Int) -> ClaimCap? { i < caps.count ? caps[i] : nil }
        func text(_ i: Int) -> String { (i < texts.count ? texts[i] : nil) ?? String(decoding: requests[i].encoded(), as: UTF8.self) }
        // Without a claimant nothing can be resumed (an empty one would match any unnamed claim).
        func resume(_ i: Int) -> String { !claimant.isEmpty && i < resuming.count && resuming[i] ? "1" : "0" }
        let header = [String(now), String(now + lease.milliseconds), String(retention.milliseconds), claimant]
        let shard = { (i: Int) in Shard.of(requests[i].contactId, partitions: partitions) }
        let replies = try await redis.evalGrouped(Self.claimScript, count: requests.count, group: shard) { items in
            // Every item of a call is in one shard (the group).
            let t = tag(requests[items[0]].contactId)
            var shapes = ScriptShapes<ClaimShape>()
            var keys: [String] = []
            var arguments: [String] = []
            for i in items {
                let r = requests[i]
                let shape = shapes.index(of: ClaimShape(campaign: r.campaignId, channel: r.channel.rawValue, cap: cap(i)))
                arguments += [shape, text(i), r.id, r.contactId, resume(i)]
                keys += [Self.recordKey(t, r.id), Self.contactIndexKey(t, r.contactId)]
                if let cap = cap(i) { keys.append(Self.capKey(t, r, day: cap.day)) }
            }
            return shapes.call(header: header, keys: keys, arguments: arguments) { shape in
                // A cap's set is kept two days: a local day never spans more.
                let capArguments = shape.cap.map { ["1", String($0.limit), String(2 * 86_400), $0.reason] } ?? ["0"]
                return (keys: [Self.campaignCountsKey(t, shape.campaign), Self.retryKey(t)], arguments: [shape.campaign, shape.channel] + capArguments)
            }
        }
        return try replies.map { reply in
            let parts = reply.array?.compactMap(\.string) ?? []
            switch parts.first {
            case "claimed":
                func number(_ i: Int) -> Int64 { parts.count > i ? Int64(parts[i]) ?? 0 : 0 }
                return .claimed(attempt: Int(max(1, number(1))), deferrals: Int(number(2)), firstSeenMs: number(3))
            case "not_due": return .notDue
            case "busy": return .busy
            case "unknown": return .outcomeUnknown
            case "final": return .done(MessageState(rawValue: parts.count > 1 ? parts[1] : "") ?? .error)
            case "capped": return .overCap
            default: throw RedisError(code: .server, message: "message_claim returned \(reply)")
            }
        }
    }

    /// What messages of one claim call share (the claim script's shapes): the
    /// campaign and channel, with the campaign's counts and the shard's retry set
    /// as keys, and the cap checked first.
    struct ClaimShape: Hashable {
        var campaign: String
        var channel: String
        var cap: ClaimCap?
    }

    /// What messages of one record call share (the record script's shapes).
    struct RecordShape: Hashable {
        var state: MessageState
        var campaign: String
        var channel: String
        var deferred: Bool
    }

    /// A move of one message to a state (see `record`).
    public struct Transition: Sendable {
        /// The message.
        public var request: SendRequest
        /// The state it moves to (refused if that would move it backwards).
        public var state: MessageState
        /// Why, for the record (an error, a cap), "" when none.
        public var reason: String
        /// For `retry_scheduled`: when to try again (UTC ms).
        public var next: Int64?
        /// The provider did not take the attempt (throttled, unreachable): not a failed attempt.
        public var deferred: Bool
        /// False when the message is known to have a record (it was claimed): the
        /// request is then not sent along again (it is stored at creation).
        public var mayCreate: Bool
        /// The provider's id of the message (a `wamid…`, a Twilio `SM…`), written
        /// with the state (`provider_id`).
        public var providerId: String?
        /// Whether status callbacks need the provider's id mapped back to the
        /// message (`herald:pmid:<id>`, kept 30 days; see `record`). False when
        /// they name the message themselves (`MessageReference`).
        public var mapProviderId: Bool

        /// A move of `request` to `state`.
        public init(
            _ request: SendRequest, _ state: MessageState, reason: String = "", next: Int64? = nil, deferred: Bool = false, mayCreate: Bool = true,
            providerId: String? = nil, mapProviderId: Bool = true
        ) {
            self.request = request
            self.state = state
            self.reason = reason
            self.next = next
            self.deferred = deferred
            self.mayCreate = mayCreate
            self.providerId = providerId
            self.mapProviderId = mapProviderId
        }
    }

    /// Moves a message to `state` if its current state allows it.
    /// - Parameters:
    ///   - next: for `retry_scheduled`, when to try again (UTC ms).
    ///   - deferred: the provider did not take the attempt (throttled it, or could
    ///     not be reached): it is given back (`attempts` − 1) and counted in `deferrals`.
    /// - Returns: the state the message is in afterwards.
    @discardableResult
    public func record(_ r: SendRequest, _ state: MessageState, reason: String = "", next: Int64? = nil, deferred: Bool = false, now: Int64) async throws
        -> MessageState
    {
        try await record(many: [Transition(r, state, reason: reason, next: next, deferred: deferred)], now: now)[0]
    }

    /// `record` for several messages in one round trip: one script call per shard,
    /// each message in order within it.
    ///
    /// A transition with a provider id whose callbacks do not name the message
    /// (`mapProviderId`) also maps that id to its message (`herald:pmid:<id>`,
    /// kept 30 days), in the same round trip and ahead of the scripts: a
    /// callback can come as soon as the provider answered, and must find its
    /// message once the state says sent. (The mapping's key has no shard — such
    /// a callback knows only the provider's id — so it cannot be written by the
    /// shard's script.)
    /// - Returns: each message's state afterwards.
    public func record(many transitions: [Transition], now: Int64) async throws -> [MessageState] {
        let mappings = transitions.compactMap { t in
            t.mapProviderId ? t.providerId.map { ["SET", "herald:pmid:\($0)", "\(t.request.contactId)\u{1F}\(t.request.id)", "EX", String(30 * 86_400)] } : nil
        }
        let header = [String(now), String(retention.milliseconds)]
        let replies = try await redis.evalGrouped(
            Self.recordScript, count: transitions.count, group: { Shard.of(transitions[$0].request.contactId, partitions: partitions) }, first: mappings
        ) { items in
            let t = tag(transitions[items[0]].request.contactId)
            var shapes = ScriptShapes<RecordShape>()
            var keys: [String] = []
            var arguments: [String] = []
            for i in items {
                let tr = transitions[i]
                let r = tr.request
                let shape = shapes.index(of: RecordShape(state: tr.state, campaign: r.campaignId, channel: r.channel.rawValue, deferred: tr.deferred))
                arguments += [shape, tr.reason, String(tr.next ?? 0), tr.mayCreate ? r.json.jsonString : "", r.id, r.contactId, tr.providerId ?? ""]
                keys += [Self.recordKey(t, r.id), Self.contactIndexKey(t, r.contactId)]
            }
            return shapes.call(header: header, keys: keys, arguments: arguments) { shape in
                (
                    keys: [Self.campaignCountsKey(t, shape.campaign), Self.retryKey(t)],
                    arguments: [shape.state.rawValue, Self.allowedFrom[shape.state] ?? ",", shape.campaign, shape.channel, shape.deferred ? "1" : "0"]
                )
            }
        }
        return zip(transitions, replies).map { t, reply in reply.string.flatMap(MessageState.init(rawValue:)) ?? t.state }
    }

    /// Per state: the states a message may move to it from, as the record script
    /// reads them (",initial,in_progress,"; `nil` counts as `initial`).
    static let allowedFrom: [MessageState: String] = Dictionary(
        uniqueKeysWithValues: MessageState.allCases.map { to in
            (to, "," + MessageState.allCases.filter { $0.allows(to) }.map(\.rawValue).joined(separator: ",") + ",")
        })

    /// Applies a provider's status (`sent`, `delivered`, `read`, `sending_failed`)
    /// to the message it names: by Herald's reference when the callback carries
    /// one, else through the provider id's mapping. The provider's id is written
    /// with the state: a callback may come before the sender recorded `sent`,
    /// whose record then changes nothing. Redelivered
    /// or reordered statuses change nothing (states only move forward).
    /// - Returns: the request and its state afterwards; nil for an unknown message.
    public func applyStatus(
        providerId: String, reference: MessageReference? = nil, _ state: MessageState, reason: String = "", now: Int64
    ) async throws -> (request: SendRequest, state: MessageState, changed: Bool)? {
        let ref: MessageReference
        if let reference {
            ref = reference
        } else {
            guard let mapped = try await redis.execute(["GET", "herald:pmid:\(providerId)"]).string else { return nil }
            let parts = mapped.split(separator: "\u{1F}", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { return nil }
            ref = MessageReference(contactId: parts[0], sendId: parts[1])
        }
        // The request (for the event) and the state before, in one round trip.
        let fields = try await redis.execute(["HMGET", Self.recordKey(tag(ref.contactId), ref.sendId), "request", "state"]).array ?? []
        guard let text = fields.first?.string, let request = try? SendRequest(decoding: Array(text.utf8)) else { return nil }
        let before = fields.count > 1 ? fields[1].string : nil
        let after = try await record(many: [Transition(request, state, reason: reason, providerId: providerId, mapProviderId: false)], now: now)[0]
        return (request, after, before != after.rawValue)
    }

    /// One message's record, as the API shows it.
    public func message(contactId: String, id: String) async throws -> [String: String]? {
        Self.fields(try await redis.execute(["HGETALL", Self.recordKey(tag(contactId), id)]), id: id)
    }

    /// A message hash's fields (plus `id`); nil when it does not exist.
    static func fields(_ reply: RedisValue, id: String) -> [String: String]? {
        let flat = reply.array ?? []
        guard !flat.isEmpty else { return nil }
        var out: [String: String] = [:]
        for i in stride(from: 0, to: flat.count - 1, by: 2) { if let k = flat[i].string, let v = flat[i + 1].string { out[k] = v } }
        out["id"] = id
        return out
    }

    /// A contact's message index: each message's id and its index score (its
    /// creation time, ms). Ids only, so an API page can be cut from it before any
    /// record is read.
    public func messageIndex(contactId: String) async throws -> [(id: String, score: Int64)] {
        let flat = try await redis.execute(["ZRANGE", Self.contactIndexKey(tag(contactId), contactId), "0", "-1", "WITHSCORES"]).array ?? []
        return stride(from: 0, to: flat.count - 1, by: 2).compactMap { i in
            guard let id = flat[i].string, let score = flat[i + 1].string.flatMap({ Double($0) }) else { return nil }
            return (id, Int64(score))
        }
    }

    /// The records of a contact's messages `ids` (in that order; one that
    /// expired meanwhile is left out).
    public func messages(contactId: String, ids: [String]) async throws -> [[String: String]] {
        // One round trip for all of them.
        let replies = try await redis.pipeline(ids.map { ["HGETALL", Self.recordKey(tag(contactId), $0)] })
        return zip(ids, replies).compactMap { id, reply in Self.fields(reply, id: id) }
    }

    /// How many of a campaign's messages are in each state (summed over shards).
    public func states(campaign: String) async throws -> [String: Int] {
        let replies = try await redis.pipeline((0..<partitions).map { ["HGETALL", Self.campaignCountsKey(Shard.hashTag($0), campaign)] })
        var total: [String: Int] = [:]
        for reply in replies {
            let flat = reply.array ?? []
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let k = flat[i].string, let v = flat[i + 1].int, v != 0 { total[k, default: 0] += Int(v) }
            }
        }
        return total
    }

    /// What one look at some shards' retry sets found.
    public struct DuePass: Sendable {
        /// The messages due, oldest first in each shard.
        public var requests: [SendRequest]
        /// Each request's JSON text as stored (for `claim(many:texts:)`).
        public var texts: [String]
        /// Per shard read, when its next message falls due: the first time after
        /// `now`, or `now` when more were due than `limit`. Absent: nothing waits.
        public var next: [Int: Int64]
    }

    /// Messages of these shards to look at again (retries due, leases run out),
    /// oldest first in each shard, at most `limit` per shard, and when each shard
    /// next has one due: one round trip for the ids of every shard, one for their records.
    public func due(shards: [Int], now: Int64, limit: Int) async throws -> DuePass {
        let sets = shards.map { Self.retryKey(Shard.hashTag($0)) }
        // Per shard, what is due, and the first entry after it (when the shard is due next).
        let reads = try await redis.pipeline(
            sets.flatMap { set in
                [
                    ["ZRANGEBYSCORE", set, "-inf", String(now), "LIMIT", "0", String(limit)],
                    ["ZRANGEBYSCORE", set, "(\(now)", "+inf", "WITHSCORES", "LIMIT", "0", "1"],
                ]
            })
        var keys: [(set: String, id: String, record: String)] = []
        var next: [Int: Int64] = [:]
        for (i, (shard, set)) in zip(shards, sets).enumerated() {
            let ids = reads[2 * i].array?.compactMap(\.string) ?? []
            for id in ids { keys.append((set, id, Self.recordKey(Shard.hashTag(shard), id))) }
            if ids.count >= limit {
                next[shard] = now  // more may be due than were taken
            } else if let first = reads[2 * i + 1].array, first.count == 2, let score = first[1].string.flatMap(Double.init) {
                next[shard] = Int64(score)
            }
        }
        guard !keys.isEmpty else { return DuePass(requests: [], texts: [], next: next) }
        let replies = try await redis.pipeline(keys.map { ["HMGET", $0.record, "request", "campaign", "contact", "created_ms"] })
        let made = try await broadcastRequests(replies.map { $0.array ?? [] })
        var out: [SendRequest] = []
        var texts: [String] = []
        var gone: [[String]] = []
        for (i, (key, reply)) in zip(keys, replies).enumerated() {
            if let text = reply.array?.first?.string, let r = try? SendRequest(decoding: Array(text.utf8)) {
                out.append(r)
                texts.append(text)
            } else if let r = made[i] {
                out.append(r)
                texts.append(String(decoding: r.encoded(), as: UTF8.self))
            } else {
                gone.append(["ZREM", key.set, key.id])  // its record is gone
            }
        }
        if !gone.isEmpty { _ = try await redis.pipeline(gone) }
        return DuePass(requests: out, texts: texts, next: next)
    }

    /// The requests of the records (`request`, `campaign`, `contact`,
    /// `created_ms` as read) that a broadcast added without one
    /// (`broadcast_add.lua`): each made from its broadcast's definition, read
    /// once per broadcast (one round trip). Nil for the others, and for a
    /// broadcast that is gone.
    func broadcastRequests(_ records: [[RedisValue]]) async throws -> [Int: SendRequest] {
        var wanted: [Int: (broadcast: String, contact: String, created: Int64)] = [:]
        for (i, fields) in records.enumerated() where fields.count == 4 && fields[0].string == nil {
            guard let campaign = fields[1].string, campaign.hasPrefix(Broadcast.campaignPrefix), let contact = fields[2].string,
                let created = fields[3].string.flatMap({ Int64($0) })
            else { continue }
            wanted[i] = (String(campaign.dropFirst(Broadcast.campaignPrefix.count)), contact, created)
        }
        guard !wanted.isEmpty else { return [:] }
        let ids = Array(Set(wanted.values.map(\.broadcast)))
        let definitions = try await redis.pipeline(ids.map { ["HMGET", BroadcastStore.key($0), "definition", "created_ms"] })
        var broadcasts: [String: Broadcast] = [:]
        for (id, reply) in zip(ids, definitions) {
            // The definition as stored at creation (it never changes), read as `BroadcastStore.get` reads it.
            let fields = reply.array ?? []
            guard fields.count == 2, let text = fields[0].string, let json = try? JSONValue.parse(string: text) else { continue }
            if let b = try? Broadcast(json: json, now: fields[1].string.flatMap { Int64($0) } ?? 0) { broadcasts[id] = b }
        }
        return wanted.compactMapValues { w in broadcasts[w.broadcast]?.request(for: w.contact, now: w.created) }
    }

    /// Leaves messages as they are but looks at each again only at its `until`
    /// (a paused broadcast's): their place in the retry set moves, nothing else.
    public func hold(_ requests: [(request: SendRequest, until: Int64)]) async throws {
        guard !requests.isEmpty else { return }
        let commands = requests.map { ["ZADD", Self.retryKey(tag($0.request.contactId)), String($0.until), $0.request.id] }
        for case .error(let message) in try await redis.pipeline(commands) { throw RedisError(code: .server, message: "hold: \(message)") }
    }

    /// How many messages these shards' retry sets hold (retries, parked messages,
    /// claims whose lease runs): one round trip.
    public func waiting(shards: [Int]) async throws -> Int {
        let counts = try await redis.pipeline(shards.map { ["ZCARD", Self.retryKey(Shard.hashTag($0))] })
        return counts.reduce(0) { $0 + Int($1.int ?? 0) }
    }

    /// Makes messages waiting in `retry_scheduled` for a limit due now (those whose
    /// reason names `reason`; a message that moved on, or waits for something else,
    /// is left alone). One script call per shard.
    /// - Returns: how many were brought forward.
    /// Makes due now the messages of `claims` that are still `in_progress` under
    /// `claimant`: claims Redis ran whose answers the sender never got, so that
    /// its retry poller takes them back at once (`claim(many:…resuming:)`)
    /// instead of when their lease runs out. Returns how many were made due.
    public func resume(_ claims: [(shard: Int, id: String)], claimant: String, now: Int64) async throws -> Int {
        guard !claims.isEmpty else { return 0 }
        let replies = try await redis.evalGrouped(
            Self.resumeScript, count: claims.count, group: { claims[$0].shard }, header: [String(now), claimant],
            keys: { i in
                let tag = Shard.hashTag(claims[i].shard)
                return [Self.recordKey(tag, claims[i].id), Self.retryKey(tag)]
            },
            arguments: { [claims[$0].id] })
        return replies.filter { $0.int == 1 }.count
    }

    static let resumeScript = RedisScript(name: "message_resume", source: LuaSource.messageResume)

    static func bringForward(_ held: [(shard: Int, id: String)], reason: String, redis: RedisPool, now: Int64) async throws -> Int {
        let replies = try await redis.evalGrouped(
            bringForwardScript, count: held.count, group: { held[$0].shard }, header: [String(now), reason],
            keys: { i in
                let tag = Shard.hashTag(held[i].shard)
                return [recordKey(tag, held[i].id), retryKey(tag)]
            },
            arguments: { [held[$0].id] })
        return replies.filter { $0.int == 1 }.count
    }

    /// ARGV: now, the limit's name, then an id per message; KEYS per message:
    /// record, retry set. Returns per message 1 when brought forward, else 0.
    static let bringForwardScript = RedisScript(name: "message_bring_forward", source: LuaSource.messageBringForward)

    /// Claims messages of one shard, in order.
    ///
    /// ARGV: now, the lease's end (now + lease, ms), retention ms, the claimant,
    /// the number of shapes; per shape (`ClaimShape`): campaign, channel, and
    /// "1", the cap's limit, its set's ttl in seconds and its reason — or "0"
    /// without a cap. Then per message: its shape (1-based), request, id,
    /// contact, and "1" when the claimant asks for its own unanswered claim again.
    ///
    /// KEYS: per shape: the campaign's counts, the shard's retry set; then per
    /// message: record, contact index, and with a cap its set.
    ///
    /// Returns per message {'claimed', attempt, deferrals, first seen ms},
    /// {'not_due'}, {'busy'}, {'unknown'}, {'final', state} or {'capped'}.
    static let claimScript = RedisScript(name: "message_claim", source: LuaSource.messageClaim)

    /// Records transitions of one shard's messages, in order.
    ///
    /// ARGV: now, retention ms, the number of shapes; per shape (`RecordShape`):
    /// new state, ",allowed,current,states,", campaign, channel, deferred (0/1).
    /// Then per message: its shape (1-based), reason, next ms, request (or ""),
    /// id, contact, the provider's id (or "").
    ///
    /// KEYS: per shape: the campaign's counts, the shard's retry set; then per
    /// message: record, contact index.
    ///
    /// Returns per message its state afterwards.
    static let recordScript = RedisScript(name: "message_record", source: LuaSource.messageRecord)

    // MARK: Erasure

    /// Erases what the store keeps of a contact: each message record its index
    /// names (the newest 500; older ones expire with `retention`), their
    /// provider-id mappings, their places in the retry set, and the daily
    /// marketing caps of the days around `now` (older ones have expired).
    public func erase(contactId: String, now: Int64) async throws {
        let t = tag(contactId)
        let reply = try await redis.eval(Self.eraseScript, keys: [Self.contactIndexKey(t, contactId), Self.retryKey(t)], arguments: [])
        let pids = (reply.array ?? []).compactMap(\.string)
        let days = (-2...1).map { RFC3339.date(milliseconds: now.addingClamped(Int64($0) * 86_400_000)) }
        var commands = days.map { ["DEL", "herald:cap:\(t):\(contactId):\($0)"] }
        commands += pids.map { ["DEL", "herald:pmid:\($0)"] }
        for case .error(let message) in try await redis.pipeline(commands) { throw RedisError(code: .server, message: "erase: \(message)") }
    }

    static let eraseScript = RedisScript(name: "message_erase", source: LuaSource.messageErase)
}
