import HeraldCore

/// Import jobs as clients follow them: one hash per job
/// (`herald:{imports}:job:<id>`: state, counters, the row count committed, a
/// heartbeat) and its rejected rows (`herald:{imports}:errors:<id>`, a list of
/// `line␟column␟reason`, the first `maxErrors`). Both expire `retention` after
/// the last change.
public struct ImportJobStore: Sendable {
    let redis: RedisPool
    /// How long a job is kept after it last changed.
    public let retention: Duration
    /// Rejected rows kept per job; more are counted, not kept.
    public static let maxErrors = 10_000
    /// The most bytes of one rejected row's `line␟column␟reason` kept.
    public static let maxErrorBytes = 1_024

    /// A store on `redis`.
    public init(redis: RedisPool, retention: Duration = .seconds(7 * 86_400)) {
        self.redis = redis
        self.retention = retention
    }

    static func jobKey(_ id: String) -> String { "herald:{imports}:job:\(id)" }
    static func errorsKey(_ id: String) -> String { "herald:{imports}:errors:\(id)" }

    /// A job's fields as stored (nil: no such job).
    public func job(_ id: String) async throws -> [String: String]? {
        guard case .array(let flat) = try await redis.execute(["HGETALL", Self.jobKey(id)]), !flat.isEmpty else { return nil }
        var out: [String: String] = [:]
        var i = 0
        while i + 1 < flat.count {
            if let k = flat[i].string, let v = flat[i + 1].string { out[k] = v }
            i += 2
        }
        return out
    }

    /// Sets fields of a job and adds rejected rows, renewing both keys' expiry,
    /// while `run` (from `claim`) still owns the job.
    /// - Throws: `ImportTakenOver` when another run claimed the job since: this
    ///   one was stopped or paused past the stale bound, and must stop writing.
    public func update(_ id: String, run: String, set fields: [String: String], errors: [String] = []) async throws {
        let pairs = fields.sorted { $0.key < $1.key }
        // Each kept rejected row is at most `maxErrorBytes`, whatever its
        // reason quotes: 10,000 of them stay a few megabytes.
        let errors = errors.map { $0.utf8.count <= Self.maxErrorBytes ? $0 : String(decoding: Array($0.utf8.prefix(Self.maxErrorBytes)), as: UTF8.self) }
        let reply = try await redis.eval(
            Self.updateScript, keys: [Self.jobKey(id), Self.errorsKey(id)],
            arguments: [run, String(retention.milliseconds), String(Self.maxErrors), String(pairs.count)] + pairs.flatMap { [$0.key, $0.value] } + errors)
        guard reply.int == 1 else { throw ImportTakenOver(id: id) }
    }

    /// Claims a job for running: its run token when it did not exist, or its
    /// last heartbeat is older than `staleAfter` (the process running it died,
    /// or is stopped) and it has not finished; nil otherwise. The claim is the
    /// heartbeat itself, set only if it is still the stale one read (a Lua
    /// compare-and-set), so two retries cannot both run it; and the token
    /// fences the run it replaces (`update`).
    public func claim(_ id: String, now: Int64, staleAfter: Duration, fields: [String: String]) async throws -> String? {
        let run = String(UInt64.random(in: 1...UInt64.max), radix: 16)
        let reply = try await redis.eval(
            Self.claimScript, keys: [Self.jobKey(id)],
            arguments: [String(now), String(staleAfter.milliseconds), String(retention.milliseconds), run]
                + fields.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value] })
        return reply.int == 1 ? run : nil
    }

    /// Up to `limit` rejected rows: (line, column, reason).
    public func errors(_ id: String, limit: Int = maxErrors) async throws -> [(line: Int, column: String, reason: String)] {
        (try await redis.execute(["LRANGE", Self.errorsKey(id), "0", String(limit - 1)]).array ?? []).compactMap(\.string).map { text in
            let parts = text.split(separator: "\u{1F}", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            return (Int(parts.first ?? "") ?? 0, parts.count > 1 ? parts[1] : "", parts.count > 2 ? parts[2] : "")
        }
    }

    static let claimScript = RedisScript(name: "import_claim", source: LuaSource.importClaim)
    static let updateScript = RedisScript(name: "import_update", source: LuaSource.importUpdate)
}

/// Another run claimed the import job: this one stops without writing to it.
public struct ImportTakenOver: Error, CustomStringConvertible {
    /// The job.
    public let id: String
    /// What happened.
    public var description: String { "import \(id) was taken over by a later run" }
}
