import HeraldCore

/// Limits shared by every sender process, enforced by atomic Lua scripts.
///
/// - Rates (`messages per window`) are exact sliding windows: a sorted set per
///   limit holds the times of the messages let through in the last window; a
///   message passes only if fewer than `limit` are in it. In no window of that
///   length do more than `limit` messages pass, whatever the number of senders.
/// - All rates a message is subject to (its channel account, its email domain)
///   are checked and taken in one call: a message held by one limit takes no
///   slot of another.
/// - Keys share the `{limits}` hash tag (one slot), so one script can touch them.
public struct RateLimiter: Sendable {
    let redis: RedisPool

    public init(redis: RedisPool) { self.redis = redis }

    public struct Rate: Sendable, Equatable {
        /// What is limited, e.g. `email`, `email-domain:shop.example`.
        public var name: String
        public var limit: Int
        public var window: Duration

        public init(name: String, limit: Int, window: Duration) {
            self.name = name
            self.limit = limit
            self.window = window
        }
    }

    public enum Decision: Sendable, Equatable {
        case allowed
        /// Try again after this many milliseconds (the earliest moment a slot frees).
        case wait(milliseconds: Int64, limit: String)
    }

    /// Takes one slot of every rate, or none.
    /// - Parameter member: a unique id of this message (a retry after `wait` uses the same).
    public func acquire(_ rates: [Rate], member: String, now: Int64) async throws -> Decision {
        guard !rates.isEmpty else { return .allowed }
        var args = [String(now), member]
        for r in rates { args += [String(r.limit), String(r.window.milliseconds)] }
        let reply = try await redis.eval(Self.script, keys: rates.map { "herald:{limits}:rate:\($0.name)" }, arguments: args)
        let parts = reply.array ?? []
        guard let first = parts.first?.int else { throw RedisError(code: .server, message: "limit_acquire returned \(reply)") }
        if first < 0 { return .allowed }
        let wait = parts.count > 1 ? parts[1].int ?? 1 : 1
        return .wait(milliseconds: max(1, wait), limit: rates[Int(first)].name)
    }

    /// A contact's marketing messages of one day: at most `limit`. Idempotent per
    /// message (a set of send ids), so retries and replays count once.
    /// - Returns: false when the message would exceed the cap.
    public func withinDailyCap(contactShard: Int, contactId: String, day: String, sendId: String, limit: Int) async throws -> Bool {
        let key = "herald:cap:\(Shard.hashTag(contactShard)):\(contactId):\(day)"
        let reply = try await redis.eval(Self.capScript, keys: [key], arguments: [sendId, String(limit), String(2 * 86_400)])
        return reply.int == 1
    }

    /// ARGV: now, member, then (limit, window ms) per key. Returns {-1} when every
    /// rate had room (and all were taken), else {index of the full one (0-based),
    /// ms until it has room}.
    static let script = RedisScript(name: "limit_acquire", source: """
        local now = tonumber(ARGV[1])
        for i = 1, #KEYS do
          local limit = tonumber(ARGV[1 + 2 * i])
          local window = tonumber(ARGV[2 + 2 * i])
          redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
          if redis.call('ZSCORE', KEYS[i], ARGV[2]) == false and redis.call('ZCARD', KEYS[i]) >= limit then
            local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
            return {i - 1, tonumber(oldest[2]) + window - now + 1}
          end
        end
        for i = 1, #KEYS do
          redis.call('ZADD', KEYS[i], now, ARGV[2])
          redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[2 + 2 * i]) * 2)
        end
        return {-1}
        """)

    static let capScript = RedisScript(name: "daily_cap", source: """
        if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return 1 end
        if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
        redis.call('SADD', KEYS[1], ARGV[1])
        redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
        return 1
        """)
}
