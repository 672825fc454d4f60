import HeraldCore

/// Broadcasts and their recipients (docs/broadcasts.md).
///
/// - `herald:{campaigns}:bc:<id>`: hash — `definition` (the API's JSON),
///   `state`, `reason`, `created_ms`, `updated_ms`; the planner's work:
///   `adding` (an audience being added, as JSON), `cursor` (where that addition
///   is), `added` (recipients added so far), `release` and `cancel` ("1": a pass
///   is due). In the campaigns' slot, so a state change and the revision the
///   workers watch move in one script.
/// - `herald:{campaigns}:bc-index`: ids by creation time; `…:bc-work`: ids the
///   planner has something to do for; `…:bc-lease:<id>`: who does it now.
/// - Per shard `{s}` of the recipient: `herald:bcr:{s}:<id>`, the broadcast's
///   send ids there (scores 0, paged by id); each recipient's message is a
///   `MessageStore` record (`herald:m:{s}:<send id>`, state from `initial`) and
///   counts in `herald:mstat:{s}:broadcast:<id>`.
public struct BroadcastStore: Sendable {
    let redis: RedisPool
    /// Recipients are kept per shard of their contact, as messages are.
    public let partitions: Int

    /// The broadcasts in `redis`, recipients over `partitions` shards.
    public init(redis: RedisPool, partitions: Int) {
        self.redis = redis
        self.partitions = partitions
    }

    static func key(_ id: String) -> String { "herald:{campaigns}:bc:\(id)" }
    static let index = "herald:{campaigns}:bc-index"
    static let work = "herald:{campaigns}:bc-work"
    static func leaseKey(_ id: String) -> String { "herald:{campaigns}:bc-lease:\(id)" }
    static func recipientsKey(_ t: String, _ id: String) -> String { "herald:bcr:\(t):\(id)" }

    /// A broadcast as stored.
    public struct Record: Sendable {
        /// What it sends, to whom.
        public var broadcast: Broadcast
        /// Where it is.
        public var state: BroadcastState
        /// Why it was last moved ("" when no one said).
        public var reason: String
        /// When it was created and last moved, UTC ms.
        public var createdAt: Int64, updatedAt: Int64
        /// An audience whose members are still being added.
        public var adding: Broadcast.Audience?
        /// Where that addition goes on from (nil: the start).
        public var cursor: String?
        /// Recipients added so far.
        public var added: Int
        /// A pass that makes its waiting recipients due (after a start or a resume) is pending.
        public var releasePending: Bool
        /// A pass that cancels its waiting recipients (after a cancel) is pending.
        public var cancelPending: Bool
        /// A pass that reopens its failed recipients ("retry failed") is pending.
        public var retryFailedPending: Bool
        /// Failed and ended messages when it was last started, resumed or
        /// retried: its auto-pause counts what ended since.
        public var baseline: (failed: Int, ended: Int)
        /// Messages a second its recipients ended at lately, as the planner saw (`pace`).
        public var pace: Double = 0
        /// Recipients the window (or an addition behind a cursor) made due so far (`released`).
        public var released: Int = 0
        /// Per shard, the last recipient the planner's window made due (`rc:<shard>`):
        /// recipients up to it were released, those after it wait their turn.
        public var cursors: [Int: String] = [:]
    }

    /// Creates `broadcast` as a draft, its audience's members to be added by the
    /// planner. False when the id is taken.
    public func create(_ broadcast: Broadcast, now: Int64) async throws -> Bool {
        let key = Self.key(broadcast.id)
        guard try await redis.execute(["HSETNX", key, "definition", broadcast.json.jsonString]).int == 1 else { return false }
        let replies = try await redis.pipeline([
            [
                "HSET", key, "state", BroadcastState.draft.rawValue, "reason", "", "created_ms", String(now), "updated_ms", String(now),
                "adding", broadcast.audience.json.jsonString, "added", "0",
            ],
            ["ZADD", Self.index, String(now), broadcast.id],
            ["SADD", Self.work, broadcast.id],
            ["INCR", CampaignStore.revision],
        ])
        for case .error(let message) in replies { throw RedisError(code: .server, message: "broadcast create: \(message)") }
        return true
    }

    /// The broadcast `id`, or nil.
    public func get(_ id: String) async throws -> Record? {
        let flat = try await redis.execute(["HGETALL", Self.key(id)]).array ?? []
        return Self.record(flat)
    }

    static func record(_ flat: [RedisValue]) -> Record? {
        var h: [String: String] = [:]
        for i in stride(from: 0, to: flat.count - 1, by: 2) { if let k = flat[i].string, let v = flat[i + 1].string { h[k] = v } }
        guard let text = h["definition"], let json = try? JSONValue.parse(string: text),
            let broadcast = try? Broadcast(json: json, now: Int64(h["created_ms"] ?? "") ?? 0),
            let state = h["state"].flatMap(BroadcastState.init(rawValue:))
        else { return nil }
        var cursors: [Int: String] = [:]
        for (k, v) in h where k.hasPrefix("rc:") { if let shard = Int(k.dropFirst(3)) { cursors[shard] = v } }
        let adding = h["adding"].flatMap { $0.isEmpty ? nil : try? JSONValue.parse(string: $0) }.flatMap { try? Broadcast.Audience(json: $0) }
        return Record(
            broadcast: broadcast, state: state, reason: h["reason"] ?? "", createdAt: Int64(h["created_ms"] ?? "") ?? 0,
            updatedAt: Int64(h["updated_ms"] ?? "") ?? 0, adding: adding, cursor: h["cursor"].flatMap { $0.isEmpty ? nil : $0 },
            added: Int(h["added"] ?? "") ?? 0, releasePending: h["release"] == "1", cancelPending: h["cancel"] == "1",
            retryFailedPending: h["retry_failed"] == "1", baseline: (Int(h["base_failed"] ?? "") ?? 0, Int(h["base_ended"] ?? "") ?? 0),
            pace: Double(h["pace"] ?? "") ?? 0, released: Int(h["released"] ?? "") ?? 0, cursors: cursors)
    }

    /// Every broadcast, oldest first.
    public func all() async throws -> [Record] {
        let ids = (try await redis.execute(["ZRANGE", Self.index, "0", "-1"]).array ?? []).compactMap(\.string)
        guard !ids.isEmpty else { return [] }
        return try await redis.pipeline(ids.map { ["HGETALL", Self.key($0)] }).compactMap { Self.record($0.array ?? []) }
    }

    /// Each broadcast's state, by id (for the workers' catalogue, which has no shard count).
    public static func states(in redis: RedisPool) async throws -> [String: BroadcastState] {
        let ids = (try await redis.execute(["ZRANGE", index, "0", "-1"]).array ?? []).compactMap(\.string)
        guard !ids.isEmpty else { return [:] }
        let replies = try await redis.pipeline(ids.map { ["HGET", key($0), "state"] })
        var out: [String: BroadcastState] = [:]
        for (id, reply) in zip(ids, replies) { if let s = reply.string.flatMap(BroadcastState.init(rawValue:)) { out[id] = s } }
        return out
    }

    /// What a transition found.
    public enum Move: Sendable, Equatable {
        /// Done: the broadcast is now in this state.
        case moved(BroadcastState)
        /// The action does not apply to the state it is in.
        case refused(BroadcastState)
        /// No such broadcast.
        case unknown
    }

    /// Applies `action`. A start or resume also asks the planner to make the
    /// waiting recipients due; a cancel, to cancel them.
    public func apply(_ action: BroadcastState.Action, to id: String, now: Int64, reason: String = "") async throws -> Move {
        // Twice at most: a concurrent change between the read and the script is retried once.
        for _ in 0..<2 {
            guard let record = try await get(id) else { return .unknown }
            guard let next = record.state.after(action, startAt: record.broadcast.startAt, now: now) else { return .refused(record.state) }
            var extra: [String] = []
            if next == .running { extra += ["release", "1"] }
            if next == .cancelled { extra += ["cancel", "1"] }
            if action == .retryFailed { extra += ["retry_failed", "1"] }
            if case .moved = try await move(id, from: record.state, to: next, now: now, reason: reason, extra: extra) { return .moved(next) }
        }
        return .refused(try await get(id)?.state ?? .draft)
    }

    /// Pauses every scheduled or running WhatsApp broadcast that sends
    /// `template` in `language` (or in its configured language, which only the
    /// senders know: a broadcast without a language of its own is paused for
    /// any), with `reason`. Returns the ids paused. Resuming stays an
    /// administrator's decision.
    public func pauseUsing(template: String, language: String, reason: String, now: Int64) async throws -> [String] {
        var paused: [String] = []
        for r in try await all() where r.broadcast.channel == .whatsapp && r.broadcast.template == template {
            guard r.broadcast.language.isEmpty || r.broadcast.language == language, r.state == .running || r.state == .scheduled else { continue }
            if case .moved = try await move(r.broadcast.id, from: r.state, to: .paused, now: now, reason: reason) { paused.append(r.broadcast.id) }
        }
        return paused
    }

    /// Moves `id` from `from` to `to` if it is still in `from` (`broadcast_transition`).
    public func move(_ id: String, from: BroadcastState, to: BroadcastState, now: Int64, reason: String, extra: [String] = []) async throws -> Move {
        let reply = try await redis.eval(
            Self.transitionScript, keys: [Self.key(id), CampaignStore.revision, Self.work],
            arguments: [from.rawValue, to.rawValue, String(now), reason, id] + extra)
        if reply.int == 1 { return .moved(to) }
        guard let s = reply.string.flatMap(BroadcastState.init(rawValue:)) else { return .unknown }
        return .refused(s)
    }

    static let transitionScript = RedisScript(name: "broadcast_transition", source: LuaSource.broadcastTransition)

    /// Queues `audience`'s members to be added to `id`. False when an addition
    /// is still running (one at a time keeps the planner's cursor simple).
    public func queueAddition(_ audience: Broadcast.Audience, to id: String) async throws -> Bool {
        try await redis.eval(Self.queueScript, keys: [Self.key(id), Self.work], arguments: [audience.json.jsonString, id]).int == 1
    }

    static let queueScript = RedisScript(name: "broadcast_queue", source: LuaSource.broadcastQueue)

    /// Writes how far an addition got, after its recipients were added: a
    /// planner that dies goes on from here, and adding a recipient twice adds it once.
    public func saveProgress(_ id: String, cursor: String?, added: Int) async throws {
        if let cursor {
            _ = try await redis.execute(["HSET", Self.key(id), "cursor", cursor, "added", String(added)])
        } else {
            _ = try await redis.execute(["HSET", Self.key(id), "cursor", "", "adding", "", "added", String(added)])
        }
    }

    /// Notes the failed and ended counts its auto-pause starts from.
    public func setBaseline(_ id: String, failed: Int, ended: Int) async throws {
        _ = try await redis.execute(["HSET", Self.key(id), "base_failed", String(failed), "base_ended", String(ended)])
    }

    /// Notes the pace its messages end at lately (messages a second), for its ETA.
    public func notePace(_ id: String, perSecond: Double) async throws {
        _ = try await redis.execute(["HSET", Self.key(id), "pace", String(format: "%.1f", perSecond)])
    }

    /// Clears a pending pass flag (`release`, `cancel`, `retry_failed`) once its pass is done.
    public func clear(_ flag: String, of id: String) async throws {
        _ = try await redis.execute(["HSET", Self.key(id), flag, "0"])
    }

    /// Ids the planner has work for.
    public func workItems() async throws -> [String] {
        (try await redis.execute(["SMEMBERS", Self.work]).array ?? []).compactMap(\.string).sorted()
    }

    /// Nothing left to do for `id` until its next change.
    public func finishWork(_ id: String) async throws { _ = try await redis.execute(["SREM", Self.work, id]) }

    /// Takes (or renews) the right to work on `id` for `lease`; false when another holds it.
    public func lease(_ id: String, owner: String, for lease: Duration) async throws -> Bool {
        let reply = try await redis.eval(Self.leaseScript, keys: [Self.leaseKey(id)], arguments: [owner, String(lease.milliseconds)])
        return reply.int == 1
    }

    /// Gives the lease back (only if `owner` still holds it).
    public func unlease(_ id: String, owner: String) async throws {
        _ = try await redis.eval(Self.leaseScript, keys: [Self.leaseKey(id)], arguments: [owner, "0"])
    }

    static let leaseScript = RedisScript(name: "broadcast_lease", source: LuaSource.broadcastLease)

    // MARK: Recipients

    /// Adds these contacts as recipients (each once, however often added),
    /// due at once when `release`. Returns the send ids that were new.
    @discardableResult
    public func addRecipients(_ broadcast: Broadcast, _ contactIds: [String], release: Release, now: Int64) async throws -> [String] {
        try await addRecipients(
            broadcast, requests: Array(Set(contactIds)).sorted().map { broadcast.request(for: $0, now: now) }, ownRequests: true, release: release, now: now)
    }

    /// Which new recipients are made due as they are added.
    public enum Release: Sendable {
        /// None: the planner's window releases them in turn.
        case none
        /// Every one.
        case all
        /// Those at or before their shard's release cursor (`Record.cursors`),
        /// which the window has passed: the planner's own additions to a running broadcast.
        case through([Int: String])

        func releases(_ sendId: String, shard: Int) -> Bool {
            switch self {
            case .none: false
            case .all: true
            // Bytes, as the index orders its members (ZRANGEBYLEX).
            case .through(let cursors): cursors[shard].map { !Array($0.utf8).lexicographicallyPrecedes(Array(sendId.utf8)) } ?? false
            }
        }
    }

    /// `addRecipients` with each recipient's message as made (a CSV row's
    /// values in its `event`); of two for one contact, the first counts.
    @discardableResult
    public func addRecipients(_ broadcast: Broadcast, requests all: [SendRequest], release: Release, now: Int64) async throws -> [String] {
        try await addRecipients(broadcast, requests: all, ownRequests: false, release: release, now: now)
    }

    /// With `ownRequests`, every request is `broadcast.request(for:now:)` and
    /// is not stored: `MessageStore.due` makes it again from the definition
    /// (`broadcast_add.lua`).
    func addRecipients(_ broadcast: Broadcast, requests all: [SendRequest], ownRequests: Bool, release: Release, now: Int64) async throws -> [String] {
        var seen: Set<String> = []
        let requests = all.filter { seen.insert($0.id).inserted }
        guard !requests.isEmpty else { return [] }
        // 200 a call: the script's one ZADD of a call's members stays far below Lua's unpack limit.
        let replies = try await redis.evalGrouped(
            Self.addScript, count: requests.count, group: { Shard.of(requests[$0].contactId, partitions: partitions) }, perCall: 200
        ) { items in
            let t = Shard.hashTag(Shard.of(requests[items[0]].contactId, partitions: partitions))
            var keys = [
                MessageStore.campaignCountsKey(t, broadcast.campaignId), MessageStore.retryKey(t), Self.recipientsKey(t, broadcast.id),
            ]
            let shard = Shard.of(requests[items[0]].contactId, partitions: partitions)
            var arguments = [String(now), broadcast.campaignId, broadcast.channel.rawValue]
            for i in items {
                let r = requests[i]
                keys += [MessageStore.recordKey(t, r.id), MessageStore.contactIndexKey(t, r.contactId)]
                arguments += [r.id, r.contactId, ownRequests ? "" : r.encoded().jsonText, release.releases(r.id, shard: shard) ? "1" : "0"]
            }
            return (keys, arguments)
        }
        let releasedNow = replies.filter { $0.int == 2 }.count
        if releasedNow > 0 { _ = try await redis.execute(["HINCRBY", Self.key(broadcast.id), "released", String(releasedNow)]) }
        return zip(requests, replies).compactMap { ($1.int ?? 0) > 0 ? $0.id : nil }
    }

    static let addScript = RedisScript(name: "broadcast_add", source: LuaSource.broadcastAdd)

    /// Up to `limit` send ids of `id`'s recipients in `shard` after `after`, in id order.
    public func recipientIds(_ id: String, shard: Int, after: String?, limit: Int) async throws -> [String] {
        let start = after.map { "(" + $0 } ?? "-"
        return
            (try await redis.execute([
                "ZRANGEBYLEX", Self.recipientsKey(Shard.hashTag(shard), id), start, "+", "LIMIT", "0", String(limit),
            ]).array ?? []).compactMap(\.string)
    }

    /// Makes due at once the waiting recipients among `sendIds` of `shard`
    /// (`broadcast_release`). Returns how many were made due.
    public func release(shard: Int, sendIds: [String], now: Int64) async throws -> Int {
        guard !sendIds.isEmpty else { return 0 }
        let t = Shard.hashTag(shard)
        let reply = try await redis.eval(
            Self.releaseScript, keys: [MessageStore.retryKey(t)] + sendIds.map { MessageStore.recordKey(t, $0) }, arguments: [String(now)] + sendIds)
        return (reply.array ?? []).filter { $0.int == 1 }.count
    }

    static let releaseScript = RedisScript(name: "broadcast_release", source: LuaSource.broadcastRelease)

    /// Releases up to `limit` more recipients of `shard` after its cursor (the
    /// planner's window), then moves the cursor past them. Returns how many
    /// recipients it passed (0: the shard has no more).
    public func releaseNext(_ id: String, shard: Int, after cursor: String?, limit: Int, now: Int64) async throws -> Int {
        let ids = try await recipientIds(id, shard: shard, after: cursor, limit: limit)
        guard let last = ids.last else { return 0 }
        let made = try await release(shard: shard, sendIds: ids, now: now)
        _ = try await redis.pipeline([["HSET", Self.key(id), "rc:\(shard)", last], ["HINCRBY", Self.key(id), "released", String(made)]])
        return ids.count
    }

    /// Messages due now in every shard's retry set (what the senders have not
    /// taken yet, of every campaign): one round trip.
    public func dueBacklog(now: Int64) async throws -> Int {
        let replies = try await redis.pipeline((0..<partitions).map { ["ZCOUNT", MessageStore.retryKey(Shard.hashTag($0)), "-inf", String(now)] })
        return replies.reduce(0) { $0 + Int($1.int ?? 0) }
    }

    /// Asks the planner for a release pass (recipients added behind the window's cursors).
    public func requestRelease(_ id: String) async throws {
        _ = try await redis.pipeline([["HSET", Self.key(id), "release", "1"], ["SADD", Self.work, id]])
    }

    /// Reopens the failed recipients among `sendIds` of `shard` ("retry failed",
    /// `broadcast_reopen`), due at once when `release`. Returns how many.
    public func reopenFailed(_ broadcast: Broadcast, shard: Int, sendIds: [String], release: Bool, now: Int64) async throws -> Int {
        guard !sendIds.isEmpty else { return 0 }
        let t = Shard.hashTag(shard)
        let reply = try await redis.eval(
            Self.reopenScript,
            keys: [MessageStore.campaignCountsKey(t, broadcast.campaignId), MessageStore.retryKey(t)] + sendIds.map { MessageStore.recordKey(t, $0) },
            arguments: [String(now), release ? "1" : "0"] + sendIds)
        return (reply.array ?? []).filter { $0.int == 1 }.count
    }

    static let reopenScript = RedisScript(name: "broadcast_reopen", source: LuaSource.broadcastReopen)

    /// One recipient as listed: its send id, contact and message fields.
    public struct Recipient: Sendable {
        /// The message's id (`bc:<broadcast>:<contact>`).
        public var sendId: String
        /// The contact.
        public var contactId: String
        /// `state`, `reason`, `next_ms`, `attempts`, `updated_ms`, `provider_id` as stored.
        public var fields: [String: String]
    }

    /// The recipients among `sendIds` of `shard`, with their message's fields
    /// (one round trip); one whose record expired is left out.
    public func recipients(shard: Int, sendIds: [String]) async throws -> [Recipient] {
        guard !sendIds.isEmpty else { return [] }
        let t = Shard.hashTag(shard)
        let names = ["state", "reason", "next_ms", "attempts", "updated_ms", "provider_id", "contact"]
        let replies = try await redis.pipeline(sendIds.map { ["HMGET", MessageStore.recordKey(t, $0)] + names })
        var out: [Recipient] = []
        for (id, reply) in zip(sendIds, replies) {
            let values = reply.array ?? []
            var fields: [String: String] = [:]
            for (name, value) in zip(names, values) { if let v = value.string { fields[name] = v } }
            guard let contact = fields.removeValue(forKey: "contact"), fields["state"] != nil else { continue }
            out.append(Recipient(sendId: id, contactId: contact, fields: fields))
        }
        return out
    }

    /// How many of the broadcast's recipients are in each state (all shards, one round trip).
    public func counts(_ broadcast: Broadcast) async throws -> [MessageState: Int] {
        let replies = try await redis.pipeline(
            (0..<partitions).map { ["HGETALL", MessageStore.campaignCountsKey(Shard.hashTag($0), broadcast.campaignId)] })
        var out: [MessageState: Int] = [:]
        for reply in replies {
            let flat = reply.array ?? []
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let s = flat[i].string.flatMap(MessageState.init(rawValue:)), let n = flat[i + 1].string.flatMap(Int.init) { out[s, default: 0] += n }
            }
        }
        return out.filter { $0.value != 0 }
    }
}

extension [UInt8] {
    /// These bytes as text (JSON written by `JSONValue`, valid UTF-8).
    var jsonText: String { String(decoding: self, as: UTF8.self) }
}
