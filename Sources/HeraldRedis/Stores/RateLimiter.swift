import Foundation
import HeraldCore

/// Limits shared by every sender process, enforced by atomic Lua scripts.
///
/// - Rates (`messages per window`) are exact sliding windows: a sorted set per
///   limit holds the times of the messages let through in the last window; a
///   message passes only if fewer than `limit` are in it. (A rate of one per
///   window keeps only the last one let through: `rateKey`.) In no window of that
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

    /// A limiter whose windows live in `redis`, shared by every sender.
    public init(redis: RedisPool) { self.redis = redis }

    /// The window a rate is counted over: the configured one plus the jitter guard.
    static func countedWindow(_ window: Duration) -> Int64 {
        let ms = window.milliseconds
        return ms + ms / 20
    }

    /// At most `limit` events per sliding `window`, counted under `name`.
    public struct Rate: Sendable, Equatable {
        /// What is limited, e.g. `email`, `email-domain:shop.example`.
        public var name: String
        /// Events allowed per window.
        public var limit: Int
        /// The sliding window's length.
        public var window: Duration

        /// `limit` per `window` under `name`.
        public init(name: String, limit: Int, window: Duration) {
            self.name = name
            self.limit = limit
            self.window = window
        }
    }

    /// What the limits answer for one message.
    public enum Decision: Sendable, Equatable {
        /// Every limit had room; the message is counted in each.
        case allowed
        /// Try again after this many milliseconds (the earliest moment a slot frees).
        case wait(milliseconds: Int64, limit: String)
    }

    /// A cap on distinct recipients in a rolling window (WhatsApp's messaging
    /// limit: unique customers per 24 hours, by the account's tier). A recipient
    /// already counted in the window passes freely.
    public struct UniqueRecipients: Sendable, Equatable {
        /// The sending account (a WhatsApp phone number id) whose tier applies.
        public var account: String
        /// The recipient counted (a phone number).
        public var recipient: String
        /// Used when no tier was set at run time (`setTier`); 0 means unlimited.
        public var defaultLimit: Int
        /// The rolling window, 24 hours for WhatsApp.
        public var window: Duration

        /// `recipient` counted against `account`'s cap.
        public init(account: String, recipient: String, defaultLimit: Int, window: Duration = .seconds(86_400)) {
            self.account = account
            self.recipient = recipient
            self.defaultLimit = defaultLimit
            self.window = window
        }
    }

    static func tierKey(_ account: String) -> String { "herald:{limits}:tier:\(account)" }
    static let stoppedKey = "herald:{limits}:stopped"
    /// The account's recipients in its window, by their first message's time.
    static func uniqueKey(_ account: String) -> String { "herald:{limits}:uniq:\(account)" }

    /// Where a rate's window is kept: a sorted set of the times let through, or
    /// for a rate of one per window (WhatsApp's per-recipient interval: a key per
    /// recipient) a string, "<time> <member>" of the one let through. The string
    /// is a `GET` and a `SET` per message where the set was four commands
    /// (trim, count, add, expire), the largest part of Redis's work for a WhatsApp
    /// message's limits (docs/benchmarks.md).
    static func rateKey(_ rate: Rate) -> String {
        rate.limit == 1 ? "herald:{limits}:last:\(rate.name)" : "herald:{limits}:rate:\(rate.name)"
    }
    /// The last turn a rate gave a message it held (a time, ms).
    static func turnKey(_ rateName: String) -> String { "herald:{limits}:turn:\(rateName)" }
    /// The last turn given at the account's cap (a time, ms).
    static func uniqueTurnKey(_ account: String) -> String { "herald:{limits}:uturn:\(account)" }
    /// Messages held by the account's cap: `<shard>:<send id>` by their turn.
    static func heldKey(_ account: String) -> String { "herald:{limits}:held:\(account)" }

    /// Sets an account's unique-recipient limit at run time (0: unlimited), and
    /// has every message the cap holds looked at again now, under the new tier: a
    /// held message waits for its turn (a recipient leaving the 24 h window,
    /// possibly hours away), so without this a raised tier would apply only at
    /// each message's turn or `park_recheck`.
    /// - Returns: how many held messages were brought forward.
    @discardableResult
    public func setTier(account: String, limit: Int, now: Int64 = WallClock.system.now()) async throws -> Int {
        // Turns given under the old tier no longer hold.
        _ = try await redis.pipeline([["SET", Self.tierKey(account), String(limit)], ["DEL", Self.uniqueTurnKey(account)]])
        let key = Self.heldKey(account)
        let members = try await redis.execute(["ZRANGEBYSCORE", key, "(\(now)", "+inf"]).array?.compactMap(\.string) ?? []
        guard !members.isEmpty else { return 0 }
        // Held again under the new tier, a message is noted again.
        for chunk in stride(from: 0, to: members.count, by: 500).map({ Array(members[$0..<min(members.count, $0 + 500)]) }) {
            try await redis.execute(["ZREM", key] + chunk)
        }
        let held = members.compactMap { member -> (shard: Int, id: String)? in
            guard let colon = member.firstIndex(of: ":"), let shard = Int(member[..<colon]) else { return nil }
            return (shard, String(member[member.index(after: colon)...]))
        }
        return try await MessageStore.bringForward(held, reason: "unique-recipients:\(account)", redis: redis, now: now)
    }

    /// How many distinct recipients the account's cap counts in the window ending `now`.
    public func recipients(account: String, window: Duration = .seconds(86_400), now: Int64) async throws -> Int {
        Int(try await redis.execute(["ZCOUNT", Self.uniqueKey(account), "(\(now - window.milliseconds)", "+inf"]).int ?? 0)
    }

    /// The account's limit as set at run time, if any.
    public func tier(account: String) async throws -> Int? {
        try await redis.execute(["GET", Self.tierKey(account)]).string.flatMap { Int($0) }
    }

    /// Takes one slot of every rate (and counts the recipient), or none.
    /// - Parameter member: a unique id of this message (a retry after `wait` uses the same).
    public func acquire(_ rates: [Rate], unique: UniqueRecipients? = nil, member: String, now: Int64, recheck: Duration = .seconds(600)) async throws
        -> Decision
    {
        try await acquire(many: [Request(rates: rates, unique: unique, member: member)], now: now, recheck: recheck)[0]
    }

    /// What one message asks of the limits.
    public struct Request: Sendable {
        /// Every rate the message must fit (all or none count it).
        public var rates: [Rate]
        /// The unique-recipient cap, if its channel has one.
        public var unique: UniqueRecipients?
        /// A unique id of the message (a retry after `wait` uses the same).
        public var member: String
        /// The message's shard, when it is held by the unique-recipient cap: the
        /// hold is noted so a tier change (`setTier`) can bring it forward. Nil: not noted.
        public var shard: Int?

        /// A request of `member` against `rates` and `unique`.
        public init(rates: [Rate], unique: UniqueRecipients? = nil, member: String, shard: Int? = nil) {
            self.rates = rates
            self.unique = unique
            self.member = member
            self.shard = shard
        }
    }

    /// `acquire` for several messages in one round trip and, as every limit key has
    /// the `{limits}` tag, one script call per 64 messages. The messages are still
    /// taken one after the other, atomically: the decisions are those they would
    /// get one by one.
    /// - Parameter recheck: the longest wait told to a message held by a
    ///   unique-recipient cap (the sender's `park_recheck`): its turn may be hours
    ///   away. A tier change brings noted holds forward (`setTier`); this is the
    ///   safety net for a hold noted as the tier changed. A turn at a rate is not
    ///   shortened: the rate cannot change under a running sender.
    public func acquire(many requests: [Request], now: Int64, recheck: Duration = .seconds(600)) async throws -> [Decision] {
        var decisions = [Decision](repeating: .allowed, count: requests.count)
        let limited = requests.indices.filter { !requests[$0].rates.isEmpty || requests[$0].unique != nil }
        // One call per 64 messages, each in the script's own layout (`call`).
        let replies = try await redis.evalGrouped(Self.script, count: limited.count, group: { _ in 0 }, perCall: Self.perCall) { items in
            Self.call(requests, items.map { limited[$0] }, now: now, recheck: recheck)
        }
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

    /// At most this many messages in one script call, so one call never holds Redis for long.
    static let perCall = 64

    /// What messages of one call share: their rates' limits and windows, the
    /// keys of the rates that are not a rate of one (those are kept per
    /// recipient: `rateKey`), and the unique-recipient cap's account.
    struct Shape: Hashable {
        struct Rate: Hashable {
            /// Nil for a rate of one per window: its keys come with each message.
            var name: String?
            var limit: Int
            var window: Int64
        }
        struct Unique: Hashable {
            var account: String
            var defaultLimit: Int
            var window: Int64
        }
        var rates: [Rate]
        var unique: Unique?

        init(_ r: Request) {
            rates = r.rates.map { Rate(name: $0.limit == 1 ? nil : $0.name, limit: $0.limit, window: RateLimiter.countedWindow($0.window)) }
            unique = r.unique.map { Unique(account: $0.account, defaultLimit: $0.defaultLimit, window: $0.window.milliseconds) }
        }
    }

    /// One script call for these requests (see `script` for the layout): each
    /// shape's numbers and keys once, then per message only what is its own.
    /// For a WhatsApp message that is 6 strings instead of 19: Redis makes an
    /// object and a Lua string of each (`scripts/redis-cost/run`).
    static func call(_ requests: [Request], _ items: [Int], now: Int64, recheck: Duration) -> (keys: [String], arguments: [String]) {
        var shapes = ScriptShapes<Shape>()
        var keys: [String] = []
        var arguments: [String] = []
        for i in items {
            let r = requests[i]
            arguments += [shapes.index(of: Shape(r)), r.member]
            if let u = r.unique { arguments += [u.recipient, r.shard.map { "\($0):\(r.member)" } ?? ""] }
            for rate in r.rates where rate.limit == 1 { keys += [rateKey(rate), turnKey(rate.name)] }
        }
        return shapes.call(header: [String(now), String(recheck.milliseconds)], keys: keys, arguments: arguments) { shape in
            var keys: [String] = []
            var arguments = [String(shape.rates.count)]
            for rate in shape.rates {
                arguments += [String(rate.limit), String(rate.window), rate.name == nil ? "1" : "0"]
                if let name = rate.name { keys += [rateKey(Rate(name: name, limit: rate.limit, window: .zero)), turnKey(name)] }
            }
            if let u = shape.unique {
                arguments += ["1", String(u.defaultLimit), String(u.window)]
                keys += [uniqueKey(u.account), tierKey(u.account), uniqueTurnKey(u.account), heldKey(u.account)]
            } else {
                arguments.append("0")
            }
            return (keys, arguments)
        }
    }

    /// Takes messages' slots one after the other. What messages share comes once,
    /// as shapes (`Shape`); each message names its shape.
    ///
    /// ARGV: now, recheck ms, the number of shapes; per shape: its rate count n,
    /// per rate its limit, window ms and "1" when its keys come with each message
    /// (a rate of one) or "0" when they are the shape's; then "1", default limit,
    /// window ms for a unique-recipient cap, or "0". Then per message: its shape
    /// (1-based), member, and with a cap: recipient, "<shard>:<member>" (or "": not
    /// noted).
    ///
    /// KEYS: first the shapes' keys — per shape, per rate of its own: its set and
    /// its turn key; with a cap: the unique-recipient set, the account's tier key,
    /// its turn key and its held set — then per message, per rate of one: its key
    /// and its turn key.
    ///
    /// Returns per message {-1} when all had room (and all were taken), else
    /// {index of the full one (the unique set is index = n), ms until its turn}.
    ///
    /// The turn: told only when the next slot frees, every message held by a rate
    /// would come back at that same moment, and a backlog would go through this
    /// script again at every tenth (3,000 waiting on 200/s: 452,296 calls for
    /// 3,000 messages). So a held message gets the rate's next turn: its turn key
    /// holds the last one given, and each is a slot's time (window / limit) after
    /// it, or when a slot frees if that is later. Waiting messages then come back
    /// about as fast as the rate lets them through. A turn is a hint, not a
    /// reservation: a message that finds the rate full again gets a later turn.
    /// Turns have no horizon: a message is looked at again only at its turn, so a
    /// backlog of any length goes through this script about twice per message
    /// (once held, once at its turn). Capped at `park_recheck`, every message past
    /// 30 s of the rate came back each 30 s, found the rate full and was parked
    /// again: a million waiting at 80/s would be 33,000 checks a second for 76
    /// sends. A message held by a recipient cap gets a turn of its own too (when
    /// the next recipient leaves the window), is noted for `setTier`, and is told
    /// at most `recheck`.
    ///
    /// One `now` holds for the whole call, so each set drops what left its window
    /// and is counted once, its new members are written in one `ZADD` and its
    /// expiry pushed out once, all at the end. Between, the call keeps each set's
    /// count itself (what the set held plus what it added, an upper bound: a
    /// retry's member may already be in it). Only when that count nears the limit
    /// (a tenth of it for a rate, all of it for a recipient cap) are the added
    /// members written first and the set read exactly; with limits far above the
    /// traffic, a message costs no Redis command of its own (each `redis.call`
    /// is work for Redis's one thread: `scripts/redis-cost/run` counts it).
    static let script = RedisScript(name: "limit_acquire", source: LuaSource.limitAcquire)

    // MARK: Erasure

    /// Forgets a recipient (a phone number): it leaves every account's
    /// unique-recipient set (found by `SCAN`: one set per account) and its
    /// per-recipient interval window.
    public func forget(recipient: String) async throws {
        var cursor = "0"
        var commands: [[String]] = []
        repeat {
            let reply = try await redis.execute(["SCAN", cursor, "MATCH", "herald:{limits}:uniq:*", "COUNT", "1000"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                throw RedisError(code: .server, message: "SCAN returned an unexpected reply")
            }
            cursor = next
            commands += (parts[1].array ?? []).compactMap(\.string).map { ["ZREM", $0, recipient] }
        } while cursor != "0"
        let window = Rate(name: "whatsapp-recipient:\(recipient)", limit: 1, window: .seconds(1))
        commands.append(["DEL", Self.rateKey(window), Self.turnKey(window.name)])
        for case .error(let message) in try await redis.pipeline(commands) { throw RedisError(code: .server, message: "forget: \(message)") }
    }

    // MARK: Stopped accounts

    /// Stops `account` (`<channel>:<label>`, e.g. `whatsapp:106540352242922`)
    /// for every sender until `resume`: the provider said so (WhatsApp 131048).
    public func stop(account: String, reason: String, now: Int64) async throws {
        _ = try await redis.execute(["HSET", Self.stoppedKey, account, "\(now)\u{1F}\(reason)"])
    }

    /// Lets `account` send again. Returns whether it was stopped.
    @discardableResult
    public func resume(account: String) async throws -> Bool { (try await redis.execute(["HDEL", Self.stoppedKey, account]).int ?? 0) > 0 }

    /// Stopped accounts: since when (UTC ms) and why.
    public func stoppedAccounts() async throws -> [String: (since: Int64, reason: String)] {
        let flat = try await redis.execute(["HGETALL", Self.stoppedKey]).array ?? []
        var out: [String: (since: Int64, reason: String)] = [:]
        for i in stride(from: 0, to: flat.count - 1, by: 2) {
            guard let k = flat[i].string, let v = flat[i + 1].string else { continue }
            let parts = v.split(separator: "\u{1F}", maxSplits: 1, omittingEmptySubsequences: false)
            out[k] = (Int64(parts.first ?? "") ?? 0, parts.count > 1 ? String(parts[1]) : "")
        }
        return out
    }
}
