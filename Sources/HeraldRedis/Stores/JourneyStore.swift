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

    /// A store on `redis` with `partitions` shards.
    public init(redis: RedisPool, partitions: Int) {
        self.redis = redis
        self.partitions = partitions
    }

    /// The shard (= partition) a contact's journeys and wake-ups live in.
    public func shard(of contactId: String) -> Int { Shard.of(contactId, partitions: partitions) }
    func journeysKey(_ contactId: String) -> String { "herald:j:\(Shard.hashTag(shard(of: contactId))):\(contactId)" }
    func messagesKey(_ contactId: String) -> String { "herald:msg:\(Shard.hashTag(shard(of: contactId))):\(contactId)" }
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

    /// What the scheduler reads of a contact before a transition.
    public struct Loaded: Sendable {
        /// The contact's stored journeys that decode.
        public var journeys: [JourneyInstance]
        /// The contact's profile (nil: none stored).
        public var profile: ContactProfile?
        /// Messages Herald asked to send to the contact (newest kept; see `save`).
        public var messages: [MessageRecord]
        /// Stored journeys that could not be read (damaged in Redis), with their
        /// bytes: left out of `journeys`. The scheduler dead-letters them and
        /// deletes them (`JourneyProcessor`), so their wake-ups end as orphans.
        public var damaged: [Damaged] = []
        /// How many stored journeys could not be read.
        public var undecodable: Int { damaged.count }
    }

    /// A stored journey that does not decode: where it was and what it held.
    public struct Damaged: Sendable, Equatable {
        /// The contact's journeys hash (`herald:j:{shard}:<contact>`).
        public var key: String
        /// The hash field: the instance id.
        public var instanceId: String
        /// What the field held.
        public var bytes: [UInt8]

        /// The damaged field `instanceId` of `key`, holding `bytes`.
        public init(key: String, instanceId: String, bytes: [UInt8]) {
            self.key = key
            self.instanceId = instanceId
            self.bytes = bytes
        }
    }

    /// A contact's journeys, profile and message history in one round trip (the
    /// keys are all in the contact's shard slot).
    public func load(_ contactId: String, contacts: ContactStore) async throws -> Loaded {
        try await load([contactId], contacts: contacts)[0]
    }

    /// Several contacts' journeys, profiles and message histories in one round
    /// trip, in the order asked.
    public func load(_ contactIds: [String], contacts: ContactStore) async throws -> [Loaded] {
        let replies = try await redis.pipeline(
            contactIds.flatMap {
                [["HVALS", journeysKey($0)], ["GET", contacts.key($0)], ["ZRANGE", messagesKey($0), "0", "-1", "WITHSCORES"]]
            })
        for case .error(let message) in replies { throw RedisError(code: .server, message: message) }
        var out = contactIds.indices.map { n in
            let stored = replies[3 * n].array ?? []
            let journeys = stored.compactMap(Self.instance)
            var profile: ContactProfile? = nil
            if case .bulk(let bytes) = replies[3 * n + 1] { profile = try? ContactProfile(decoding: bytes) }
            let flat = replies[3 * n + 2].array ?? []
            let messages = stride(from: 0, to: flat.count - 1, by: 2).compactMap { i -> MessageRecord? in
                guard let member = flat[i].string, let at = flat[i + 1].string.flatMap({ Double($0) }) else { return nil }
                return Self.message(member: member, at: Int64(at))
            }
            return (Loaded(journeys: journeys, profile: profile, messages: messages), stored.count - journeys.count)
        }
        // Rare: HVALS does not name the fields, so a contact with a damaged journey
        // is read again with HGETALL to learn which instance it was.
        for n in out.indices where out[n].1 > 0 {
            out[n].0.damaged = try await damaged(contactIds[n])
        }
        return out.map(\.0)
    }

    static func instance(_ stored: RedisValue) -> JourneyInstance? {
        guard case .bulk(let bytes) = stored else { return nil }
        return try? JourneyInstance(decoding: bytes)
    }

    /// A contact's stored journeys that do not decode, with their fields and bytes.
    func damaged(_ contactId: String) async throws -> [Damaged] {
        let key = journeysKey(contactId)
        let flat = try await redis.execute(["HGETALL", key]).array ?? []
        return stride(from: 0, to: flat.count - 1, by: 2).compactMap { i in
            guard Self.instance(flat[i + 1]) == nil, let field = flat[i].string else { return nil }
            let bytes: [UInt8] = if case .bulk(let b) = flat[i + 1] { b } else { [] }
            return Damaged(key: key, instanceId: field, bytes: bytes)
        }
    }

    /// History member: `<send key>\u{1F}<channel>\u{1F}<category>` — the send key
    /// makes a replayed transition's entry the same member (no double count).
    static func member(_ m: JourneySave.Message) -> String {
        "\(m.key)\(separator)\(m.record.channel.rawValue)\(separator)\(m.record.category ?? "")"
    }

    static func message(member: String, at: Int64) -> MessageRecord? {
        let parts = member.split(separator: separator, omittingEmptySubsequences: false)
        guard parts.count == 3, let channel = Channel(rawValue: String(parts[1])) else { return nil }
        return MessageRecord(channel: channel, category: parts[2].isEmpty ? nil : String(parts[2]), at: at)
    }

    /// How long message history is kept, and at most how many entries per contact:
    /// enough for any frequency rule over the last weeks.
    public static let messageRetention: Int64 = 90 * 86_400_000
    /// At most this many messages of history per contact (the oldest go first).
    public static let messageCap = 500

    /// The stored bytes of some of a contact's journeys (nil where none is
    /// stored), with the hash's key: what a dead letter keeps of them.
    public func stored(_ contactId: String, instanceIds: [String]) async throws -> (key: String, values: [[UInt8]?]) {
        let key = journeysKey(contactId)
        guard !instanceIds.isEmpty else { return (key, []) }
        let flat = try await redis.execute(["HMGET", key] + instanceIds).array ?? []
        return (
            key,
            instanceIds.indices.map { i in
                guard i < flat.count, case .bulk(let bytes) = flat[i] else { return nil }
                return bytes
            }
        )
    }

    /// Every journey of a contact (active and finished).
    public func instances(of contactId: String) async throws -> [JourneyInstance] {
        guard case .array(let flat) = try await redis.execute(["HVALS", journeysKey(contactId)]) else { return [] }
        return flat.compactMap { v in v.string.flatMap { try? JourneyInstance(decoding: Array($0.utf8)) } }
    }

    static func reportKey(_ shard: Int, _ campaign: String) -> String { "herald:report:\(Shard.hashTag(shard)):\(campaign)" }

    /// Saves instances, their wake-ups and report counters atomically, if `epoch`
    /// still owns the shard.
    ///
    /// - Parameter counts: per campaign, report counters to add; kept per shard in
    ///   the shard's slot (fields named by `CampaignReport.Counter.field`) and
    ///   summed by `report`.
    /// - Throws: `JourneyStoreError.fenced` when another process took the shard.
    public func save(
        _ instances: [JourneyInstance], contactId: String, epoch: Int64, counts: [String: CampaignReport] = [:], messages: [JourneySave.Message] = [],
        deletes: [String] = []
    ) async throws {
        guard !instances.isEmpty else { return }
        let one = JourneySave(contactId: contactId, instances: instances, messages: messages, deletes: deletes)
        try await save([one], shard: shard(of: contactId), epoch: epoch, counts: counts)
    }

    /// Saves many contacts' instances of one shard, their wake-ups and report
    /// counters in one atomic, fenced script call (all keys share the shard's slot).
    ///
    /// - Parameter orphans: wake-up entries (`contact`, `instance`) whose instance
    ///   no longer exists; removed so they are not fetched again.
    /// - Throws: `JourneyStoreError.fenced` when another process took the shard.
    public func save(
        _ saves: [JourneySave], shard s: Int, epoch: Int64, counts: [String: CampaignReport] = [:], orphans: [(contactId: String, instanceId: String)] = []
    ) async throws {
        var keys = [Self.wakeKey(s), Self.epochKey(s)]
        var args = [String(epoch), String(saves.count)]
        for save in saves {
            precondition(shard(of: save.contactId) == s, "a contact saved with another shard's batch")
            keys += [journeysKey(save.contactId), messagesKey(save.contactId)]
            args.append(String(save.instances.count))
            for i in save.instances {
                let wake: Int64 = if case .waiting(let until) = i.status { until } else { -1 }
                // A finished journey is stored small (`JourneyRetention`).
                args += [
                    i.id, String(decoding: JourneyRetention.compacted(i).encoded(), as: UTF8.self), String(wake), "\(save.contactId)\(Self.separator)\(i.id)",
                ]
            }
            args.append(String(save.deletes.count))
            args += save.deletes
            args.append(String(save.messages.count))
            for m in save.messages { args += [String(m.record.at), Self.member(m)] }
            let newest = save.messages.map(\.record.at).max() ?? 0
            args.append(String(newest - Self.messageRetention))
        }
        args.append(String(Self.messageCap))
        args.append(String(orphans.count))
        for o in orphans { args.append("\(o.contactId)\(Self.separator)\(o.instanceId)") }
        for (campaign, report) in counts.sorted(by: { $0.key < $1.key }) where !report.counts.isEmpty {
            let fields = report.fields
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
    public func report(campaign: String) async throws -> CampaignReport {
        let replies = try await redis.pipeline((0..<partitions).map { ["HGETALL", Self.reportKey($0, campaign)] })
        var total = CampaignReport()
        for reply in replies {
            let flat = reply.array ?? []
            var fields: [String: Int] = [:]
            for i in stride(from: 0, to: flat.count - 1, by: 2) {
                if let k = flat[i].string, let v = flat[i + 1].int { fields[k, default: 0] += Int(v) }
            }
            total.add(CampaignReport(fields: fields))
        }
        return total
    }

    /// Makes every wake-up of `campaign`'s journeys in a shard due now, so the
    /// poller reaches them at once (used when a campaign is stopped with `now`: its
    /// journeys end promptly instead of at their next step). An instance that was
    /// not to end wakes early, changes nothing, and is saved back with its own time.
    /// - Returns: how many wake-ups were moved.
    public func expedite(shard: Int, campaign: String, now: Int64) async throws -> Int {
        let pattern = "*\(Self.separator)\(Self.globEscaped(campaign)):*"
        var cursor = "0"
        var moved = 0
        repeat {
            let reply = try await redis.execute(["ZSCAN", Self.wakeKey(shard), cursor, "MATCH", pattern, "COUNT", "1000"])
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
                throw RedisError(code: .server, message: "ZSCAN of \(Self.wakeKey(shard)) returned an unexpected reply")
            }
            cursor = next
            let flat = parts[1].array ?? []
            let members = stride(from: 0, to: flat.count - 1, by: 2).compactMap { flat[$0].string }
            if !members.isEmpty {
                // XX: only members still waiting; one that ended meanwhile stays gone.
                try await redis.execute(["ZADD", Self.wakeKey(shard), "XX"] + members.flatMap { [String(now), $0] })
                moved += members.count
            }
        } while cursor != "0"
        return moved
    }

    /// What `expedite` last did for `campaign` in a shard (`markExpedited`'s tag).
    public func expedited(shard: Int, campaign: String) async throws -> String? {
        try await redis.execute(["HGET", "herald:expedited:\(Shard.hashTag(shard))", campaign]).string
    }

    /// Records that `expedite` ran for `campaign` in `shard` under `tag`, so a retry does not run it again.
    public func markExpedited(shard: Int, campaign: String, tag: String) async throws {
        try await redis.execute(["HSET", "herald:expedited:\(Shard.hashTag(shard))", campaign, tag])
    }

    static func globEscaped(_ s: String) -> String {
        var out = ""
        for c in s {
            if "*?[]\\^".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }

    /// Erases every journey of a contact, their wake-ups and its message history.
    public func erase(contactId: String) async throws {
        let members = try await instances(of: contactId).map { "\(contactId)\(Self.separator)\($0.id)" }
        _ = try await redis.pipeline(
            [["DEL", journeysKey(contactId), messagesKey(contactId)]] + (members.isEmpty ? [] : [["ZREM", Self.wakeKey(shard(of: contactId))] + members]))
    }

    /// KEYS: wake-up set, epoch, per contact its journeys hash and message
    /// history, then report hashes.
    /// ARGV: epoch, contact count; per contact: instance count, then (id, JSON,
    /// wake-up or -1, wake-up member) per instance, message count, then (time,
    /// member) per message, and the history's cut-off time; the history cap;
    /// orphan count and members; per report hash: field count, then (field, delta).
    static let saveScript = RedisScript(name: "journey_save", source: LuaSource.journeySave)
}

/// One contact's instances to save, and the messages its transitions asked to send.
public struct JourneySave: Sendable {
    /// A message for the contact's history, under its send's idempotency key.
    public struct Message: Sendable {
        /// The send's idempotency key: a replay records the message once.
        public var key: String
        /// Channel, category and time.
        public var record: MessageRecord

        /// The message `record` under `key`.
        public init(key: String, record: MessageRecord) {
            self.key = key
            self.record = record
        }
    }

    /// The contact whose journeys are saved.
    public var contactId: String
    /// Its instances as they are after the transitions, with their wake-ups.
    public var instances: [JourneyInstance]
    /// Messages the transitions asked to send, for the contact's history.
    public var messages: [Message]
    /// Finished instances to delete in the same save (`JourneyRetention.expired`).
    public var deletes: [String]

    /// A save of `contactId`'s `instances`, `messages` and `deletes`.
    public init(contactId: String, instances: [JourneyInstance], messages: [Message] = [], deletes: [String] = []) {
        self.contactId = contactId
        self.instances = instances
        self.messages = messages
        self.deletes = deletes
    }
}

/// Journey store failures the scheduler acts on.
public enum JourneyStoreError: Error, Sendable, CustomStringConvertible {
    /// Another process owns the shard now (this one lost its partition).
    case fenced

    /// What the refusal means, for logs.
    public var description: String { "the shard is owned by another scheduler (fencing token changed)" }
}
