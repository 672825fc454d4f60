import HeraldCore
import Synchronization

/// The WhatsApp message templates as the provider last reported them
/// (`heraldctl templates sync`), in `herald:{wa}:templates`: `<name>|<language>` →
/// `{"status", "parameters", "category"}`.
public final class WhatsAppCatalog: Sendable {
    /// One template in one language.
    public struct Entry: Sendable, Equatable {
        /// The template's name at Meta.
        public var name: String
        /// Its language code (`cs`, `en_US`, …).
        public var language: String
        /// `APPROVED`, `PAUSED`, `DISABLED`, `REJECTED`, `PENDING`, …
        public var status: String
        /// How many body parameters (`{{1}}`, `{{2}}`, …) the template takes.
        public var parameters: Int
        /// Meta's category: `MARKETING`, `UTILITY` or `AUTHENTICATION`.
        public var category: String

        /// An entry as the provider reported it.
        public init(name: String, language: String, status: String, parameters: Int, category: String) {
            self.name = name
            self.language = language
            self.status = status
            self.parameters = parameters
            self.category = category
        }
    }

    static let key = "herald:{wa}:templates"
    private let redis: RedisPool
    private let cache = Mutex<(at: ContinuousClock.Instant, entries: [String: Entry])?>(nil)
    private let refresh: Duration

    /// A catalogue read from `redis`, cached for `refresh` between reads.
    public init(redis: RedisPool, refresh: Duration = .seconds(10)) {
        self.redis = redis
        self.refresh = refresh
    }

    /// Replaces the catalogue with what the provider reported.
    public func replace(with entries: [Entry]) async throws {
        var command = ["HSET", Self.key]
        for e in entries {
            let value: JSONValue = ["status": .string(e.status), "parameters": .int(Int64(e.parameters)), "category": .string(e.category)]
            command += ["\(e.name)|\(e.language)", value.jsonString]
        }
        _ = try await redis.pipeline([["DEL", Self.key]] + (entries.isEmpty ? [] : [command]))
        cache.withLock { $0 = nil }
    }

    /// Sets one template's status as the provider reported it (a status
    /// webhook); a template never synced is left to the next sync.
    /// - Returns: whether the template was in the catalogue.
    @discardableResult
    public func setStatus(name: String, language: String, status: String) async throws -> Bool {
        let field = "\(name)|\(language)"
        guard let text = try await redis.execute(["HGET", Self.key, field]).string, case .object(var value)? = try? JSONValue.parse(string: text) else {
            return false
        }
        value["status"] = .string(status)
        _ = try await redis.execute(["HSET", Self.key, field, JSONValue.object(value).jsonString])
        cache.withLock { $0 = nil }
        return true
    }

    /// Every template by `name|language` (cached for `refresh`); empty if never synced.
    public func entries() async throws -> [String: Entry] {
        if let c = cache.withLock({ $0 }), ContinuousClock.now - c.at < refresh { return c.entries }
        let flat = try await redis.execute(["HGETALL", Self.key]).array ?? []
        var out: [String: Entry] = [:]
        for i in stride(from: 0, to: flat.count - 1, by: 2) {
            guard let k = flat[i].string, let v = flat[i + 1].string.flatMap({ try? JSONValue.parse(string: $0) }) else { continue }
            let parts = k.split(separator: "|", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let n: Int = if case .int(let p)? = v["parameters"] { Int(p) } else { 0 }
            out[k] = Entry(
                name: parts[0], language: parts[1], status: v["status"]?.stringValue ?? "", parameters: n, category: v["category"]?.stringValue ?? "")
        }
        cache.withLock { $0 = (ContinuousClock.now, out) }
        return out
    }
}
