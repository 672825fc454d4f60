/// A set that admits at most `limit` distinct members until it expires: the
/// alerts' frequency caps (the sender's daily marketing cap is the same check,
/// inside its claim script: `MessageStore.ClaimCap`). One Lua step, so
/// the check and the count are atomic across processes; a member admitted before
/// (a replay) is admitted again without being counted twice.
public enum CappedSet {
    /// Whether a member was let in.
    public enum Admission: Sendable, Equatable {
        /// First time, within the limit: now counted.
        case allowed
        /// Admitted before (a replay): not counted again.
        case again
        /// The limit was reached.
        case suppressed
    }

    static func admit(_ redis: RedisPool, key: String, member: String, limit: Int, ttlSeconds: Int64) async throws -> Admission {
        try await admit(redis, [(key, member)], limit: limit, ttlSeconds: ttlSeconds)[0]
    }

    /// Admissions to several sets (or several members), in order, in one round trip.
    static func admit(_ redis: RedisPool, _ entries: [(key: String, member: String)], limit: Int, ttlSeconds: Int64) async throws -> [Admission] {
        let replies = try await redis.evalMany(script, calls: entries.map { (keys: [$0.key], arguments: [$0.member, String(limit), String(ttlSeconds)]) })
        return try replies.map { reply in
            if case .error(let message) = reply { throw RedisError(code: .server, message: "capped_set_admit: \(message)") }
            return switch reply.int {
            case 1: .allowed
            case 2: .again
            default: .suppressed
            }
        }
    }

    /// KEYS: the set. ARGV: member, limit, ttl seconds. 1 allowed, 2 already a member, 0 suppressed.
    static let script = RedisScript(name: "capped_set_admit", source: LuaSource.cappedSetAdmit)
}
