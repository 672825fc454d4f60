import HeraldCore

/// Campaign definitions and their lifecycle in Redis.
///
/// Each publish stores the YAML as a new immutable version
/// (`herald:{campaigns}:<id>:v:<n>`); the campaign's hash (`herald:{campaigns}:<id>`) holds
/// the published version, the draft, the state and, per retired version, what to do
/// with journeys still on it (`drain` or `now`). `herald:{campaigns}:revision` grows on
/// every change so workers can notice changes without a restart.
public struct CampaignStore: Sendable {
    let redis: RedisPool

    /// A store on `redis`.
    public init(redis: RedisPool) { self.redis = redis }

    /// A campaign's lifecycle state.
    public enum State: String, Sendable, Hashable {
        /// Saved as a draft, never published.
        case draft
        /// Published: new contacts enter the published version.
        case active
        /// No one enters; wake-ups are held.
        case paused
        /// No new entries; those inside finish.
        case draining
        /// Everyone removed, pending sends cancelled.
        case stopped
    }

    /// What happens to journeys of a version that is replaced or stopped.
    public enum RetireMode: String, Sendable, Hashable {
        /// They finish on their version.
        case drain
        /// They are removed now.
        case now
    }

    /// What `show` answers.
    public struct Summary: Sendable, Hashable {
        /// The campaign id.
        public var id: String
        /// Draft, active, paused, draining or stopped.
        public var state: State
        /// The published version (nil: none yet).
        public var publishedVersion: Int?
        /// Every saved version, ascending.
        public var versions: [Int]
        /// Whether a draft is saved (not yet published).
        public var hasDraft: Bool
        /// Retired versions and what happens to their journeys.
        public var retired: [Int: RetireMode]
    }

    // One hash tag for all campaign keys: campaigns are few, and the publish script
    // may then touch a campaign's hash, its new version, the index and the revision
    // atomically, also on a Redis Cluster.
    static func key(_ id: String) -> String { "herald:{campaigns}:\(id)" }
    static func versionKey(_ id: String, _ v: Int) -> String { "herald:{campaigns}:\(id):v:\(v)" }
    static let index = "herald:{campaigns}:index"
    static let revision = "herald:{campaigns}:revision"

    /// Validates and saves a draft (replacing the previous draft).
    /// - Throws: `CampaignError` for an invalid campaign (nothing is saved).
    public func saveDraft(_ yaml: String, file: String) async throws -> Campaign {
        let campaign = try CampaignParser.parse(yaml, file: file)
        _ = try await redis.pipeline([
            ["HSET", Self.key(campaign.id), "draft", yaml],
            ["HSETNX", Self.key(campaign.id), "state", State.draft.rawValue],
            ["SADD", Self.index, campaign.id],
            ["INCR", Self.revision],
        ])
        return campaign
    }

    /// Publishes `yaml` (or the saved draft when nil) as a new version; journeys on
    /// the previous version are drained or removed per `mode`. Returns the version.
    public func publish(id: String, yaml: String?, mode: RetireMode) async throws -> Int {
        let text: String
        if let yaml {
            text = yaml
        } else {
            guard let draft = try await redis.execute(["HGET", Self.key(id), "draft"]).string else {
                throw CampaignStoreError("campaign '\(id)' has no draft to publish")
            }
            text = draft
        }
        let campaign = try CampaignParser.parse(text, file: "\(id).yaml")
        guard campaign.id == id else { throw CampaignStoreError("the YAML's id is '\(campaign.id)', not '\(id)'") }
        let reply = try await redis.eval(Self.publishScript, keys: [Self.key(id), Self.index, Self.revision], arguments: [id, text, mode.rawValue])
        guard let version = reply.int else { throw CampaignStoreError("publish returned \(reply)") }
        return Int(version)
    }

    /// Publishes an earlier version's YAML again as a new version (history is kept).
    public func rollback(id: String, to version: Int, mode: RetireMode) async throws -> Int {
        guard let text = try await redis.execute(["GET", Self.versionKey(id, version)]).string else {
            throw CampaignStoreError("campaign '\(id)' has no version \(version)")
        }
        return try await publish(id: id, yaml: text, mode: mode)
    }

    /// Pauses an active campaign or resumes a paused one.
    public func setPaused(id: String, _ paused: Bool) async throws {
        let from: State = paused ? .active : .paused
        let to: State = paused ? .paused : .active
        let reply = try await redis.eval(Self.transitionScript, keys: [Self.key(id), Self.revision], arguments: [from.rawValue, to.rawValue])
        if case .bulk(let b) = reply {
            throw CampaignStoreError("campaign '\(id)' is \(String(decoding: b, as: UTF8.self)), not \(from.rawValue)")
        }
    }

    /// Stops a campaign: `drain` lets those inside finish, `now` removes everyone.
    public func stop(id: String, mode: RetireMode) async throws {
        let to: State = mode == .drain ? .draining : .stopped
        let reply = try await redis.eval(Self.transitionScript, keys: [Self.key(id), Self.revision], arguments: ["active|paused|draining", to.rawValue])
        if case .bulk(let b) = reply {
            throw CampaignStoreError("campaign '\(id)' is \(String(decoding: b, as: UTF8.self)); only an active, paused or draining campaign can be stopped")
        }
    }

    /// The published YAML of a version (the published one when nil).
    public func yaml(id: String, version: Int? = nil) async throws -> String? {
        let v: Int
        if let version {
            v = version
        } else {
            guard let p = try await redis.execute(["HGET", Self.key(id), "published"]).int else { return nil }
            v = Int(p)
        }
        return try await redis.execute(["GET", Self.versionKey(id, v)]).string
    }

    /// The campaign's state, versions and draft; nil when unknown.
    public func show(id: String) async throws -> Summary? {
        guard case .array(let flat) = try await redis.execute(["HGETALL", Self.key(id)]), !flat.isEmpty else { return nil }
        var fields: [String: String] = [:]
        for i in stride(from: 0, to: flat.count - 1, by: 2) { fields[flat[i].string ?? ""] = flat[i + 1].string ?? "" }
        let last = Int(fields["last_version"] ?? "0") ?? 0
        var retired: [Int: RetireMode] = [:]
        for (k, v) in fields where k.hasPrefix("retired:") {
            if let n = Int(k.dropFirst("retired:".count)), let m = RetireMode(rawValue: v) { retired[n] = m }
        }
        return Summary(
            id: id, state: State(rawValue: fields["state"] ?? "") ?? .draft, publishedVersion: fields["published"].flatMap { Int($0) },
            versions: last > 0 ? Array(1...last) : [], hasDraft: fields["draft"] != nil, retired: retired)
    }

    /// Every campaign id, sorted.
    public func list() async throws -> [String] {
        (try await redis.execute(["SMEMBERS", Self.index]).array ?? []).compactMap(\.string).sorted()
    }

    /// Grows on every change; workers compare it to notice changes.
    public func revision() async throws -> Int64 {
        try await redis.execute(["GET", Self.revision]).int ?? 0
    }

    static let publishScript = RedisScript(name: "campaign_publish", source: LuaSource.campaignPublish)

    /// Moves the state from one of ARGV[1] ('a|b') to ARGV[2]; returns 1, or the current state when not allowed.
    static let transitionScript = RedisScript(name: "campaign_transition", source: LuaSource.campaignTransition)
}

/// A refused campaign operation, saying why.
public struct CampaignStoreError: Error, Sendable, CustomStringConvertible {
    /// What was refused and why.
    public let description: String
    /// A refusal saying `description`.
    public init(_ description: String) { self.description = description }
}
