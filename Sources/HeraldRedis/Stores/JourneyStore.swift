import HeraldCore

/// Journey instances and wake-ups in Redis, per shard (DESIGN.md principles 1–2).
///
/// - `herald:j:{shard}:<contact>`: hash instance id → instance JSON (active and finished).
/// - `herald:wake:{shard}`: sorted set of waiting instances, scored by due time (UTC ms),
///   member `<contact>\u{1F}<instance>`.
/// - `herald:epoch:{shard}`: the owner's fencing token; every save checks it.
public struct JourneyStore: Sendable {
    let redis: RedisPool
    let partitions: Int

    public init(redis: RedisPool, partitions: Int) {
        self.redis = redis
        self.partitions = partitions
    }

    public func shard(of contactId: String) -> Int { Shard.of(contactId, partitions: partitions) }
    func journeysKey(_ contactId: String) -> String { "herald:j:\(Shard.hashTag(shard(of: contactId))):\(contactId)" }
    static func wakeKey(_ shard: Int) -> String { "herald:wake:\(Shard.hashTag(shard))" }
    static func epochKey(_ shard: Int) -> String { "herald:epoch:\(Shard.hashTag(shard))" }
    static let separator: Character = "\u{1F}"

    /// Takes ownership of a shard: a new fencing token that makes every older owner's saves fail.
    public func claim(shard: Int) async throws -> Int64 {
        guard let epoch = try await redis.execute(["INCR", Self.epochKey(shard)]).int else {
            throw RedisError(code: .server, message: "INCR of the shard epoch returned no integer")
        }
        return epoch
    }

    /// Every journey of a contact (active and finished).
    public func instances(of contactId: String) async throws -> [JourneyInstance] {
        guard case .array(let flat) = try await redis.execute(["HVALS", journeysKey(contactId)]) else { return [] }
        return flat.compactMap { v in v.string.flatMap { try? JSONValue.parse(string: $0) }.flatMap(JourneyInstance.init(json:)) }
    }

    /// Saves instances and their wake-ups atomically, if `epoch` still owns the shard.
    /// - Throws: `JourneyStoreError.fenced` when another process took the shard.
    public func save(_ instances: [JourneyInstance], contactId: String, epoch: Int64) async throws {
        guard !instances.isEmpty else { return }
        let s = shard(of: contactId)
        var args = [String(epoch)]
        for i in instances {
            let wake: Int64 = if case .waiting(let until) = i.status { until } else { -1 }
            args += [i.id, i.json.jsonString, String(wake), "\(contactId)\(Self.separator)\(i.id)"]
        }
        let reply = try await redis.eval(Self.saveScript, keys: [journeysKey(contactId), Self.wakeKey(s), Self.epochKey(s)], arguments: args)
        if case .status(let s) = reply, s == "FENCED" { throw JourneyStoreError.fenced }
        if reply.string == "FENCED" { throw JourneyStoreError.fenced }
    }

    /// Waiting instances of a shard due at or before `now`, earliest first.
    public func due(shard: Int, now: Int64, limit: Int) async throws -> [(contactId: String, instanceId: String, due: Int64)] {
        let reply = try await redis.execute(["ZRANGEBYSCORE", Self.wakeKey(shard), "-inf", String(now), "WITHSCORES", "LIMIT", "0", String(limit)])
        let flat = reply.array ?? []
        var out: [(String, String, Int64)] = []
        for i in stride(from: 0, to: flat.count - 1, by: 2) {
            guard let member = flat[i].string, let score = flat[i + 1].string.flatMap({ Double($0) }) else { continue }
            let parts = member.split(separator: Self.separator, maxSplits: 1)
            guard parts.count == 2 else { continue }
            out.append((String(parts[0]), String(parts[1]), Int64(score)))
        }
        return out
    }

    /// The earliest due time in a shard, if any wake-up is pending.
    public func nextDue(shard: Int) async throws -> Int64? {
        let flat = try await redis.execute(["ZRANGE", Self.wakeKey(shard), "0", "0", "WITHSCORES"]).array ?? []
        return flat.count == 2 ? flat[1].string.flatMap { Double($0) }.map { Int64($0) } : nil
    }

    /// Pending wake-ups in a shard.
    public func pending(shard: Int) async throws -> Int {
        Int(try await redis.execute(["ZCARD", Self.wakeKey(shard)]).int ?? 0)
    }

    /// Erases every journey of a contact and their wake-ups.
    public func erase(contactId: String) async throws {
        let members = try await instances(of: contactId).map { "\(contactId)\(Self.separator)\($0.id)" }
        _ = try await redis.pipeline([["DEL", journeysKey(contactId)]] + (members.isEmpty ? [] : [["ZREM", Self.wakeKey(shard(of: contactId))] + members]))
    }

    static let saveScript = RedisScript(name: "journey_save", source: """
        if tonumber(redis.call('GET', KEYS[3]) or '0') ~= tonumber(ARGV[1]) then
          return redis.status_reply('FENCED')
        end
        for i = 2, #ARGV, 4 do
          redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
          local wake = tonumber(ARGV[i + 2])
          if wake >= 0 then
            redis.call('ZADD', KEYS[2], wake, ARGV[i + 3])
          else
            redis.call('ZREM', KEYS[2], ARGV[i + 3])
          end
        end
        return redis.status_reply('OK')
        """)
}

/// Journey store failures the scheduler acts on.
public enum JourneyStoreError: Error, Sendable, CustomStringConvertible {
    /// Another process owns the shard now (this one lost its partition).
    case fenced

    public var description: String { "the shard is owned by another scheduler (fencing token changed)" }
}
