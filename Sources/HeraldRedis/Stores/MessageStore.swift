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
/// Every change is one Lua call, so states only move forward (`MessageState.allows`).
public struct MessageStore: Sendable {
    let redis: RedisPool
    public let partitions: Int
    /// How long a message's record is kept once it reached a final state (each
    /// later status, `delivered` or `read`, starts it again). Without it, every
    /// message ever sent would stay in Redis.
    public let retention: Duration

    public init(redis: RedisPool, partitions: Int, retention: Duration = .seconds(30 * 86_400)) {
        self.redis = redis
        self.partitions = partitions
        self.retention = retention
    }

    func tag(_ contactId: String) -> String { Shard.hashTag(Shard.of(contactId, partitions: partitions)) }
    func keys(_ r: SendRequest) -> [String] {
        let t = tag(r.contactId)
        return ["herald:m:\(t):\(r.id)", "herald:mc:\(t):\(r.contactId)", "herald:mstat:\(t):\(r.campaignId)", "herald:retry:\(t)"]
    }

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
    public struct ClaimCap: Sendable {
        public var day: String
        public var limit: Int
        /// Recorded on a message the cap cancels.
        public var reason: String

        public init(day: String, limit: Int, reason: String) {
            self.day = day
            self.limit = limit
            self.reason = reason
        }
    }

    func capKey(_ r: SendRequest, day: String) -> String { "herald:cap:\(tag(r.contactId)):\(r.contactId):\(day)" }

    /// Claims a message before the provider is called (creating its record on first sight).
    /// - Parameter lease: how long the claim holds; after it, the outcome counts as unknown.
    public func claim(_ r: SendRequest, now: Int64, lease: Duration) async throws -> Claim {
        try await claim(many: [r], now: now, lease: lease)[0]
    }

    /// `claim` for several messages, in order, in one round trip.
    /// - Parameter caps: per message, a cap to check first (nil: none).
    public func claim(many requests: [SendRequest], caps: [ClaimCap?] = [], now: Int64, lease: Duration) async throws -> [Claim] {
        let replies = try await redis.evalMany(Self.claimScript, calls: requests.enumerated().map { i, r in
            var keys = keys(r)
            var arguments = [r.json.jsonString, String(now), String(lease.milliseconds), r.id, r.contactId, r.campaignId, r.channel, String(retention.milliseconds)]
            if i < caps.count, let cap = caps[i] {
                keys.append(capKey(r, day: cap.day))
                // Kept two days: a local day never spans more.
                arguments += [String(cap.limit), String(2 * 86_400), cap.reason]
            }
            return (keys, arguments)
        })
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

    /// A move of one message to a state (see `record`).
    public struct Transition: Sendable {
        public var request: SendRequest
        public var state: MessageState
        public var reason: String
        /// For `retry_scheduled`: when to try again (UTC ms).
        public var next: Int64?
        public var deferred: Bool
        /// False when the message is known to have a record (it was claimed): the
        /// request is then not sent along again (it is stored at creation).
        public var mayCreate: Bool

        public init(_ request: SendRequest, _ state: MessageState, reason: String = "", next: Int64? = nil, deferred: Bool = false, mayCreate: Bool = true) {
            self.request = request
            self.state = state
            self.reason = reason
            self.next = next
            self.deferred = deferred
            self.mayCreate = mayCreate
        }
    }

    /// Moves a message to `state` if its current state allows it.
    /// - Parameters:
    ///   - next: for `retry_scheduled`, when to try again (UTC ms).
    ///   - deferred: the provider did not take the attempt (throttled it, or could
    ///     not be reached): it is given back (`attempts` − 1) and counted in `deferrals`.
    /// - Returns: the state the message is in afterwards.
    @discardableResult
    public func record(_ r: SendRequest, _ state: MessageState, reason: String = "", next: Int64? = nil, deferred: Bool = false, now: Int64) async throws -> MessageState {
        try await record(many: [Transition(r, state, reason: reason, next: next, deferred: deferred)], now: now)[0]
    }

    /// `record` for several messages, in order, in one round trip.
    /// - Returns: each message's state afterwards.
    public func record(many transitions: [Transition], now: Int64) async throws -> [MessageState] {
        let replies = try await redis.evalMany(Self.recordScript, calls: transitions.map { t in
            let r = t.request
            let from = MessageState.allCases.filter { $0.allows(t.state) }.map(\.rawValue).joined(separator: ",")
            return (keys: keys(r), arguments: [
                t.state.rawValue, "," + from + ",", t.reason, String(t.next ?? 0), String(now), t.mayCreate ? r.json.jsonString : "", r.id, r.contactId, r.campaignId, r.channel,
                t.deferred ? "1" : "0", String(retention.milliseconds),
            ])
        })
        return try zip(transitions, replies).map { t, reply in
            if case .error(let message) = reply { throw RedisError(code: .server, message: "message_record: \(message)") }
            return reply.string.flatMap(MessageState.init(rawValue:)) ?? t.state
        }
    }

    /// Remembers which message a provider's id (a `wamid…`, a Twilio `SM…`) is, for
    /// its status callbacks (kept 30 days).
    public func remember(providerId: String, for r: SendRequest) async throws {
        try await remember([(providerId, r)])
    }

    /// `remember` for several messages in one round trip.
    public func remember(_ pairs: [(providerId: String, request: SendRequest)]) async throws {
        _ = try await redis.pipeline(pairs.flatMap { providerId, r in
            [
                ["SET", "herald:pmid:\(providerId)", "\(r.contactId)\u{1F}\(r.id)", "EX", String(30 * 86_400)],
                ["HSET", "herald:m:\(tag(r.contactId)):\(r.id)", "provider_id", providerId],
            ]
        })
    }

    /// Applies a provider's status (`sent`, `delivered`, `read`, `sending_failed`)
    /// to the message it names. Redelivered or reordered statuses change nothing
    /// (states only move forward).
    /// - Returns: the request and its state afterwards; nil for an unknown provider id.
    public func applyStatus(providerId: String, _ state: MessageState, reason: String = "", now: Int64) async throws -> (request: SendRequest, state: MessageState, changed: Bool)? {
        guard let ref = try await redis.execute(["GET", "herald:pmid:\(providerId)"]).string else { return nil }
        let parts = ref.split(separator: "\u{1F}", maxSplits: 1).map(String.init)
        guard parts.count == 2,
            let text = try await redis.execute(["HGET", "herald:m:\(tag(parts[0])):\(parts[1])", "request"]).string,
            let request = try? SendRequest(json: JSONValue.parse(string: text))
        else { return nil }
        let before = try await message(contactId: request.contactId, id: request.id)?["state"]
        let after = try await record(request, state, reason: reason, now: now)
        return (request, after, before != after.rawValue)
    }

    /// One message's record, as the API shows it.
    public func message(contactId: String, id: String) async throws -> [String: String]? {
        Self.fields(try await redis.execute(["HGETALL", "herald:m:\(tag(contactId)):\(id)"]), id: id)
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

    /// A contact's newest messages (at most `limit`).
    public func messages(contactId: String, limit: Int = 50) async throws -> [[String: String]] {
        let ids = try await redis.execute(["ZREVRANGE", "herald:mc:\(tag(contactId)):\(contactId)", "0", String(limit - 1)]).array?.compactMap(\.string) ?? []
        // One round trip for all of them.
        let replies = try await redis.pipeline(ids.map { ["HGETALL", "herald:m:\(tag(contactId)):\($0)"] })
        return zip(ids, replies).compactMap { id, reply in Self.fields(reply, id: id) }
    }

    /// How many of a campaign's messages are in each state (summed over shards).
    public func states(campaign: String) async throws -> [String: Int] {
        let replies = try await redis.pipeline((0..<partitions).map { ["HGETALL", "herald:mstat:\(Shard.hashTag($0)):\(campaign)"] })
        var total: [String: Int] = [:]
        for reply in replies {
            let flat = reply.array ?? []
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let k = flat[i].string, let v = flat[i + 1].int, v != 0 { total[k, default: 0] += Int(v) }
            }
        }
        return total
    }

    /// Messages of these shards to look at again (retries due, leases run out),
    /// oldest first in each shard, at most `limit` per shard: one round trip for
    /// the ids of every shard, one for their records.
    public func due(shards: [Int], now: Int64, limit: Int) async throws -> [SendRequest] {
        let sets = shards.map { "herald:retry:\(Shard.hashTag($0))" }
        let lists = try await redis.pipeline(sets.map { ["ZRANGEBYSCORE", $0, "-inf", String(now), "LIMIT", "0", String(limit)] })
        var keys: [(set: String, id: String, record: String)] = []
        for (shard, (set, list)) in zip(shards, zip(sets, lists)) {
            for id in list.array?.compactMap(\.string) ?? [] {
                keys.append((set, id, "herald:m:\(Shard.hashTag(shard)):\(id)"))
            }
        }
        guard !keys.isEmpty else { return [] }
        let replies = try await redis.pipeline(keys.map { ["HGET", $0.record, "request"] })
        var out: [SendRequest] = []
        var gone: [[String]] = []
        for (key, reply) in zip(keys, replies) {
            if let text = reply.string, let json = try? JSONValue.parse(string: text), let r = try? SendRequest(json: json) {
                out.append(r)
            } else {
                gone.append(["ZREM", key.set, key.id])  // its record is gone
            }
        }
        if !gone.isEmpty { _ = try await redis.pipeline(gone) }
        return out
    }

    /// When the next message of these shards falls due (retry, parked message or
    /// lease), in epoch milliseconds; nil when none waits. One round trip.
    public func nextDue(shards: [Int]) async throws -> Int64? {
        let firsts = try await redis.pipeline(shards.map { ["ZRANGE", "herald:retry:\(Shard.hashTag($0))", "0", "0", "WITHSCORES"] })
        return firsts.compactMap { reply -> Int64? in
            guard let pair = reply.array, pair.count == 2, let score = pair[1].string else { return nil }
            return Double(score).map { Int64($0) }
        }.min()
    }

    /// Shared by both scripts: moves KEYS[1] from its state (nil when new) to
    /// `new`, keeping the campaign's per-state counts and the contact's index.
    static let moveLua = """
        local function move(old, new, now, id, contact, campaign, channel)
          if old then
            redis.call('HINCRBY', KEYS[3], old, -1)
          else
            redis.call('ZADD', KEYS[2], now, id)
            redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -501)
            redis.call('HSET', KEYS[1], 'created_ms', now, 'contact', contact, 'campaign', campaign, 'channel', channel, 'attempts', 0)
          end
          redis.call('HINCRBY', KEYS[3], new, 1)
          redis.call('HSET', KEYS[1], 'state', new, 'updated_ms', now)
        end
        """

    /// KEYS: message, contact index, campaign counts, retry set, (cap set).
    /// ARGV: request, now, lease ms, id, contact, campaign, channel, retention ms,
    /// (cap limit, cap ttl seconds, cap reason).
    static let claimScript = RedisScript(name: "message_claim", source: """
        local now = tonumber(ARGV[2])
        local state = redis.call('HGET', KEYS[1], 'state')
        \(moveLua)
        local function claim()
          -- The cap first: a message over it ends cancelled, never claimed; one
          -- admitted before (a retry, a replay) is not counted again. SADD tells
          -- both at once: 1 when this message is new to the set.
          if KEYS[5] and redis.call('SADD', KEYS[5], ARGV[4]) == 1 then
            if redis.call('SCARD', KEYS[5]) > tonumber(ARGV[9]) then
              redis.call('SREM', KEYS[5], ARGV[4])
              move(state, 'cancelled', now, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
              if not state then redis.call('HSET', KEYS[1], 'request', ARGV[1]) end
              redis.call('HSET', KEYS[1], 'reason', ARGV[11])
              redis.call('ZREM', KEYS[4], ARGV[4])
              redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[8]))
              return {'capped'}
            end
            redis.call('EXPIRE', KEYS[5], tonumber(ARGV[10]))
          end
          local lease = now + tonumber(ARGV[3])
          -- Looked at again when the lease runs out, in case this sender dies.
          redis.call('ZADD', KEYS[4], lease, ARGV[4])
          if not state then
            -- The first attempt (nearly every claim): the whole record in one HSET.
            redis.call('ZADD', KEYS[2], now, ARGV[4])
            redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -501)
            redis.call('HINCRBY', KEYS[3], 'in_progress', 1)
            redis.call('HSET', KEYS[1], 'created_ms', now, 'contact', ARGV[5], 'campaign', ARGV[6], 'channel', ARGV[7], 'attempts', 1,
              'state', 'in_progress', 'updated_ms', now, 'request', ARGV[1], 'lease_ms', lease, 'attempt_ms', now)
            return {'claimed', '1', '0', tostring(now)}
          end
          move(state, 'in_progress', now, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
          local attempt = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
          redis.call('HSET', KEYS[1], 'request', ARGV[1], 'lease_ms', lease, 'attempt_ms', now)
          local d = redis.call('HMGET', KEYS[1], 'deferrals', 'created_ms')
          return {'claimed', tostring(attempt), d[1] or '0', d[2] or tostring(now)}
        end
        if not state or state == 'initial' then return claim() end
        if state == 'retry_scheduled' then
          if tonumber(redis.call('HGET', KEYS[1], 'next_ms') or '0') > now then return {'not_due'} end
          return claim()
        end
        if state == 'in_progress' then
          if tonumber(redis.call('HGET', KEYS[1], 'lease_ms') or '0') > now then return {'busy'} end
          move(state, 'sending_failed', now, ARGV[4], ARGV[5], ARGV[6], ARGV[7])
          redis.call('HSET', KEYS[1], 'reason', 'outcome unknown: a sender stopped during the provider call; not retried so it cannot be sent twice')
          redis.call('ZREM', KEYS[4], ARGV[4])
          redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[8]))
          return {'unknown'}
        end
        return {'final', state}
        """)

    /// ARGV: new state, ",allowed,current,states,", reason, next ms, now, request, id, contact, campaign, channel, deferred (0/1), retention ms.
    static let recordScript = RedisScript(name: "message_record", source: """
        local now = tonumber(ARGV[5])
        local state = redis.call('HGET', KEYS[1], 'state')
        if not string.find(ARGV[2], ',' .. (state or 'initial') .. ',', 1, true) then return state end
        \(moveLua)
        move(state, ARGV[1], now, ARGV[7], ARGV[8], ARGV[9], ARGV[10])
        if not state then redis.call('HSET', KEYS[1], 'request', ARGV[6]) end
        if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[3]) end
        if ARGV[11] == '1' and state == 'in_progress' then
          redis.call('HINCRBY', KEYS[1], 'attempts', -1)
          redis.call('HINCRBY', KEYS[1], 'deferrals', 1)
        end
        if ARGV[1] == 'retry_scheduled' then
          redis.call('HSET', KEYS[1], 'next_ms', ARGV[4])
          redis.call('ZADD', KEYS[4], tonumber(ARGV[4]), ARGV[7])
        else
          redis.call('ZREM', KEYS[4], ARGV[7])
        end
        if ARGV[1] ~= 'retry_scheduled' and ARGV[1] ~= 'in_progress' and ARGV[1] ~= 'initial' then
          redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[12]))
        end
        return ARGV[1]
        """)
}
