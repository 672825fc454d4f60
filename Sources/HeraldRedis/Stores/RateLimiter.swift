import HeraldCore

/// Limits shared by every sender process, enforced by atomic Lua scripts.
///
/// - Rates (`messages per window`) are exact sliding windows: a sorted set per
///   limit holds the times of the messages let through in the last window; a
///   message passes only if fewer than `limit` are in it. In no window of that
///   length do more than `limit` messages pass, whatever the number of senders.
/// - A rate of 10 or more is also spread: at most ⌈limit/10⌉ pass in any tenth of
///   the window. Without it, a backlog takes the whole window's allowance the
///   moment the window opens, and the jitter of the calls that follow (a few ms
///   to tens of ms) lets the provider, counting on its own clock, see more than
///   `limit` in one of its seconds (`heraldctl bench send --senders 4` measures both).
/// - A rate's window is counted 5 % longer than configured (a second as 1,050 ms):
///   the guard against call jitter. A call reaches the provider some milliseconds
///   after its slot was taken, and not always the same number; once a backlog
///   fills every tenth on time, a provider's second could otherwise catch the
///   slots of two windows' edges (`bench send --senders 4 --limit 200` saw 220 at
///   the receiver). The cost is 5 % of the configured throughput.
/// - All rates a message is subject to (its channel account, its email domain)
///   are checked and taken in one call: a message held by one limit takes no
///   slot of another.
/// - Keys share the `{limits}` hash tag (one slot), so one script can touch them.
public struct RateLimiter: Sendable {
    let redis: RedisPool

    public init(redis: RedisPool) { self.redis = redis }

    /// The window a rate is counted over: the configured one plus the jitter guard.
    static func countedWindow(_ window: Duration) -> Int64 {
        let ms = window.milliseconds
        return ms + ms / 20
    }

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

    /// A cap on distinct recipients in a rolling window (WhatsApp's messaging
    /// limit: unique customers per 24 hours, by the account's tier). A recipient
    /// already counted in the window passes freely.
    public struct UniqueRecipients: Sendable, Equatable {
        public var account: String
        public var recipient: String
        /// Used when no tier was set at run time (`setTier`); 0 means unlimited.
        public var defaultLimit: Int
        public var window: Duration

        public init(account: String, recipient: String, defaultLimit: Int, window: Duration = .seconds(86_400)) {
            self.account = account
            self.recipient = recipient
            self.defaultLimit = defaultLimit
            self.window = window
        }
    }

    static func tierKey(_ account: String) -> String { "herald:{limits}:tier:\(account)" }

    /// Sets an account's unique-recipient limit at run time (0: unlimited).
    public func setTier(account: String, limit: Int) async throws {
        try await redis.execute(["SET", Self.tierKey(account), String(limit)])
    }

    /// The account's limit as set at run time, if any.
    public func tier(account: String) async throws -> Int? {
        try await redis.execute(["GET", Self.tierKey(account)]).string.flatMap { Int($0) }
    }

    /// Takes one slot of every rate (and counts the recipient), or none.
    /// - Parameter member: a unique id of this message (a retry after `wait` uses the same).
    public func acquire(_ rates: [Rate], unique: UniqueRecipients? = nil, member: String, now: Int64, horizon: Duration = .seconds(30)) async throws -> Decision {
        try await acquire(many: [Request(rates: rates, unique: unique, member: member)], now: now, horizon: horizon)[0]
    }

    /// What one message asks of the limits.
    public struct Request: Sendable {
        public var rates: [Rate]
        public var unique: UniqueRecipients?
        /// A unique id of the message (a retry after `wait` uses the same).
        public var member: String

        public init(rates: [Rate], unique: UniqueRecipients? = nil, member: String) {
            self.rates = rates
            self.unique = unique
            self.member = member
        }
    }

    /// `acquire` for several messages in one round trip. Each is still its own
    /// atomic script, run in order: the decisions are those the messages would
    /// get one after the other.
    /// - Parameter horizon: the furthest turn given (the sender's `park_recheck`, after
    ///   which a parked message is looked at anyway): a message looked at before its
    ///   turn would take a new one at the back, so turns never go past it.
    public func acquire(many requests: [Request], now: Int64, horizon: Duration = .seconds(30)) async throws -> [Decision] {
        var decisions = [Decision](repeating: .allowed, count: requests.count)
        let limited = requests.indices.filter { !requests[$0].rates.isEmpty || requests[$0].unique != nil }
        let calls = limited.map { i -> (keys: [String], arguments: [String]) in
            let r = requests[i]
            var args = [String(now), r.member, String(r.rates.count)]
            for rate in r.rates { args += [String(rate.limit), String(Self.countedWindow(rate.window))] }
            var keys = r.rates.map { "herald:{limits}:rate:\($0.name)" } + r.rates.map { "herald:{limits}:turn:\($0.name)" }
            if let u = r.unique {
                keys += ["herald:{limits}:uniq:\(u.account)", Self.tierKey(u.account)]
                args += [u.recipient, String(u.defaultLimit), String(u.window.milliseconds)]
            }
            args.append(String(horizon.milliseconds))  // always last
            return (keys, args)
        }
        let replies = try await redis.evalMany(Self.script, calls: calls)
        for (i, reply) in zip(limited, replies) {
            let parts = reply.array ?? []
            guard let first = parts.first?.int else { throw RedisError(code: .server, message: "limit_acquire returned \(reply)") }
            if first < 0 { continue }
            let wait = parts.count > 1 ? parts[1].int ?? 1 : 1
            let r = requests[i]
            let name = Int(first) < r.rates.count ? r.rates[Int(first)].name : "unique-recipients:\(r.unique?.account ?? "")"
            decisions[i] = .wait(milliseconds: max(1, wait), limit: name)
        }
        return decisions
    }

    /// KEYS: one sorted set per rate, one turn key per rate, then (optional) the
    /// unique-recipient set and the account's tier key. ARGV: now, member, rate
    /// count, (limit, window ms) per rate, then (recipient, default limit, window
    /// ms), and last the horizon ms. Returns {-1} when all had room (and all were
    /// taken), else {index of the full one (the unique set is index = rate count),
    /// ms until its turn}.
    ///
    /// The turn: told only when the next slot frees, every message held by a rate
    /// would come back at that same moment, and a backlog would go through this
    /// script again at every tenth (3,000 waiting on 200/s: 452,296 calls for
    /// 3,000 messages). So a held message gets the rate's next turn: its turn key
    /// holds the last one given, and each is a slot's time (window / limit) after
    /// it, or when a slot frees if that is later. Waiting messages then come back
    /// about as fast as the rate lets them through. A turn is a hint, not a
    /// reservation: a message that finds the rate full again gets a later turn.
    /// Turns go no further than the horizon: past it, the message is looked at
    /// anyway (`park_recheck`), would find the rate full and take a new turn at the
    /// back — the turns would drift ever further from the real queue.
    static let script = RedisScript(name: "limit_acquire", source: """
        local now = tonumber(ARGV[1])
        local n = tonumber(ARGV[3])
        local horizon = tonumber(ARGV[#ARGV])
        local function turn(i, wait, limit, window)
          local last = tonumber(redis.call('GET', KEYS[n + i]) or '0')
          local at = math.max(now + wait, math.min(last + window / limit, now + horizon))
          redis.call('SET', KEYS[n + i], string.format('%.3f', at), 'PX', math.ceil(at - now) + window)
          return {i - 1, math.ceil(at - now)}
        end
        for i = 1, n do
          local limit = tonumber(ARGV[2 + 2 * i])
          local window = tonumber(ARGV[3 + 2 * i])
          redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
          if redis.call('ZSCORE', KEYS[i], ARGV[2]) == false then
            local count = redis.call('ZCARD', KEYS[i])
            if count >= limit then
              local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
              return turn(i, tonumber(oldest[2]) + window - now + 1, limit, window)
            end
            -- Spread: at most ceil(limit / 10) in any tenth of the window. When the
            -- whole window holds fewer than that, no tenth of it can be full.
            if limit >= 10 and count >= math.ceil(limit / 10) then
              local tenth = math.floor(window / 10)
              local since = '(' .. (now - tenth)
              if redis.call('ZCOUNT', KEYS[i], since, '+inf') >= math.ceil(limit / 10) then
                local first = redis.call('ZRANGEBYSCORE', KEYS[i], since, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
                return turn(i, tonumber(first[2]) + tenth - now + 1, limit, window)
              end
            end
          end
        end
        local u = 4 + 2 * n
        local uniq = KEYS[2 * n + 1]
        if uniq then
          local window = tonumber(ARGV[u + 2])
          local limit = tonumber(redis.call('GET', KEYS[2 * n + 2]) or ARGV[u + 1])
          redis.call('ZREMRANGEBYSCORE', uniq, '-inf', now - window)
          if limit > 0 and redis.call('ZSCORE', uniq, ARGV[u]) == false and redis.call('ZCARD', uniq) >= limit then
            local oldest = redis.call('ZRANGE', uniq, 0, 0, 'WITHSCORES')
            return {n, tonumber(oldest[2]) + window - now + 1}
          end
        end
        for i = 1, n do
          redis.call('ZADD', KEYS[i], now, ARGV[2])
          redis.call('PEXPIRE', KEYS[i], tonumber(ARGV[3 + 2 * i]) * 2)
        end
        if uniq then
          -- NX: a recipient counts from its first message in the window.
          redis.call('ZADD', uniq, 'NX', now, ARGV[u])
          redis.call('PEXPIRE', uniq, tonumber(ARGV[u + 2]) * 2)
        end
        return {-1}
        """)
}
