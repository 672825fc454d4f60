/// What Redis says of its own persistence and eviction, read by every worker at
/// start (docs/reliability.md, "Redis is a durable store").
///
/// Once an offset is committed, Redis holds the only copy of wake-ups, held and
/// retrying messages, send claims and fencing epochs. An evicting
/// `maxmemory-policy` (any but `noeviction`; `volatile-*` evicts exactly the keys
/// with a TTL, which are dedupe marks and claims) would drop them silently, so a
/// worker refuses to start on one. No AOF, or `appendfsync no`, loses the last
/// writes in a Redis crash: a warning outside dev mode.
public struct RedisDurability: Sendable, Equatable {
    /// `aof_enabled` of `INFO persistence`.
    public var aofEnabled: Bool?
    /// `CONFIG GET appendfsync`; nil where a managed Redis refuses `CONFIG`.
    public var appendfsync: String?
    /// `maxmemory_policy` of `INFO memory`.
    public var maxmemoryPolicy: String?

    /// The settings as read (nil: not reported).
    public init(aofEnabled: Bool?, appendfsync: String?, maxmemoryPolicy: String?) {
        self.aofEnabled = aofEnabled
        self.appendfsync = appendfsync
        self.maxmemoryPolicy = maxmemoryPolicy
    }

    /// Reads the settings through `INFO` (allowed on managed Redis services) and
    /// `CONFIG GET` where it is allowed.
    /// - Throws: `RedisError` when Redis cannot be reached.
    public static func read(from redis: RedisPool) async throws -> RedisDurability {
        let persistence = fields(try await redis.execute(["INFO", "persistence"]).string ?? "")
        let memory = fields(try await redis.execute(["INFO", "memory"]).string ?? "")
        var fsync: String? = nil
        if case .array(let pair)? = try? await redis.execute(["CONFIG", "GET", "appendfsync"]), pair.count == 2 { fsync = pair[1].string }
        return RedisDurability(aofEnabled: persistence["aof_enabled"].map { $0 == "1" }, appendfsync: fsync, maxmemoryPolicy: memory["maxmemory_policy"])
    }

    /// `key:value` lines of an `INFO` section.
    public static func fields(_ info: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in info.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            out[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return out
    }

    /// A reason not to start; nil when Redis keeps what Herald writes until Herald deletes it.
    public var refusal: String? {
        guard let policy = maxmemoryPolicy, policy != "noeviction" else { return nil }
        return "Redis evicts keys (maxmemory-policy \(policy)): Herald keeps journeys, wake-ups, send claims and limits there and "
            + "would lose them without an error; set maxmemory-policy noeviction"
    }

    /// What to warn of; in dev mode only what the check could not read.
    public func warnings(devMode: Bool) -> [String] {
        var out: [String] = []
        if maxmemoryPolicy == nil { out.append("could not read Redis's maxmemory-policy (INFO memory); Herald needs noeviction") }
        guard !devMode else { return out }
        if aofEnabled == false {
            out.append(
                "Redis runs without AOF (appendonly no): a Redis crash loses every change since its last snapshot, including wake-ups and send claims; set appendonly yes, appendfsync everysec"
            )
        } else if appendfsync == "no" {
            out.append("Redis's appendfsync is 'no': a crash of its host loses the writes the kernel had not flushed; set appendfsync everysec")
        } else if aofEnabled == true && appendfsync == nil {
            out.append("could not read Redis's appendfsync (CONFIG refused); make sure it is everysec or always")
        }
        return out
    }
}
