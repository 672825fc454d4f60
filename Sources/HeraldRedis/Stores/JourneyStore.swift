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

    /// A contact's journeys and profile in one round trip (both keys are in the
    /// contact's shard slot).
    public func load(_ contactId: String, contacts: ContactStore) async throws -> (journeys: [JourneyInstance], profile: ContactProfile?) {
        let replies = try await redis.pipeline([["HVALS", journeysKey(contactId)], ["GET", contacts.key(contactId)]])
        for case .error(let message) in replies { throw RedisError(code: .server, message: message) }
        let journeys = (replies[0].array ?? []).compactMap { v in v.string.flatMap { try? JSONValue.parse(string: $0) }.flatMap(JourneyInstance.init(json:)) }
        var profile: ContactProfile? = nil
        if case .bulk(let bytes) = replies[1] { profile = (try? JSONValue.parse(bytes)).flatMap(ContactProfile.decodeStored) }
        return (journeys, profile)
    }

    /// Every journey of a contact (active and finished).
    public func instances(of contactId: String) async throws -> [JourneyInstance] {
        guard case .array(let flat) = try await redis.execute(["HVALS", journeysKey(contactId)]) else { return [] }
        return flat.compactMap { v in v.string.flatMap { try? JSONValue.parse(string: $0) }.flatMap(JourneyInstance.init(json:)) }
    }

    static func reportKey(_ shard: Int, _ campaign: String) -> String { "herald:report:\(Shard.hashTag(shard)):\(campaign)" }

    /// Saves instances, their wake-ups and report counters atomically, if `epoch`
    /// still owns the shard.
    ///
    /// - Parameter counts: per campaign, report counters to add (`entered`,
    ///   `completed`, `exited:<reason>`, `step:<id>`, `v<n>:entered`, ...); kept per
    ///   shard in the shard's slot and summed by `report`.
    /// - Throws: `JourneyStoreError.fenced` when another process took the shard.
    public func save(_ instances: [JourneyInstance], contactId: String, epoch: Int64, counts: [String: [String: Int]] = [:]) async throws {
        guard !instances.isEmpty else { return }
        let s = shard(of: contactId)
        var args = [String(epoch), String(instances.count)]
        for i in instances {
            let wake: Int64 = if case .waiting(let until) = i.status { until } else { -1 }
            args += [i.id, i.json.jsonString, String(wake), "\(contactId)\(Self.separator)\(i.id)"]
        }
        var keys = [journeysKey(contactId), Self.wakeKey(s), Self.epochKey(s)]
        for (campaign, fields) in counts.sorted(by: { $0.key < $1.key }) where !fields.isEmpty {
            keys.append(Self.reportKey(s, campaign))
            args.append(String(fields.count))
            for (field, delta) in fields.sorted(by: { $0.key < $1.key }) { args += [field, String(delta)] }
        }
        let reply = try await redis.eval(Self.saveScript, keys: keys, arguments: args)
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

    /// A campaign's report counters summed over every shard (one round trip).
    public func report(campaign: String) async throws -> [String: Int] {
        let replies = try await redis.pipeline((0..<partitions).map { ["HGETALL", Self.reportKey($0, campaign)] })
        var total: [String: Int] = [:]
        for reply in replies {
            let flat = reply.array ?? []
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let k = flat[i].string, let v = flat[i + 1].int { total[k, default: 0] += Int(v) }
            }
        }
        return total
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
        local n = tonumber(ARGV[2])
        local a = 3
        for _ = 1, n do
          redis.call('HSET', KEYS[1], ARGV[a], ARGV[a + 1])
          local wake = tonumber(ARGV[a + 2])
          if wake >= 0 then
            redis.call('ZADD', KEYS[2], wake, ARGV[a + 3])
          else
            redis.call('ZREM', KEYS[2], ARGV[a + 3])
          end
          a = a + 4
        end
        for k = 4, #KEYS do
          local m = tonumber(ARGV[a])
          a = a + 1
          for _ = 1, m do
            redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
            a = a + 2
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
