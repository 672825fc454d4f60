import Synchronization

/// Where the Redis primary is, as Redis Sentinel says: asked of the sentinels
/// in turn (`SENTINEL get-master-addr-by-name`), kept until a connection to it
/// fails or finds it is no longer the primary, then asked again. Every slot of a
/// pool shares one, so a failover is learnt once.
///
/// Its calls block: they run on a slot's queue, never on the cooperative pool.
final class SentinelLocator: Sendable {
    let sentinels: [(host: String, port: Int)]
    let name: String
    let configuration: RedisConfiguration
    private let known = Mutex<(host: String, port: Int)?>(nil)

    init(sentinels: [(host: String, port: Int)], name: String, configuration: RedisConfiguration) {
        self.sentinels = sentinels
        self.name = name
        self.configuration = configuration
    }

    /// The primary's address: the one known, or the first a sentinel names.
    /// - Throws: `RedisError.connection` naming the sentinels when none answers with one.
    func primary() throws -> (host: String, port: Int) {
        if let address = known.withLock({ $0 }) { return address }
        var reasons: [String] = []
        for sentinel in sentinels {
            do {
                let c = try RedisConnection(
                    host: sentinel.host, port: sentinel.port, connectTimeout: configuration.connectTimeout, commandTimeout: configuration.commandTimeout)
                var login = configuration
                login.username = ""
                login.password = configuration.sentinelPassword
                login.database = 0
                try Slot.prepare(c, login)
                let reply = try c.pipeline(RESPCommands([["SENTINEL", "get-master-addr-by-name", name]]))
                guard let parts = reply.first?.array, parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) })
                else {
                    reasons.append("\(sentinel.host):\(sentinel.port) knows no primary '\(name)'")
                    continue
                }
                known.withLock { $0 = (host, port) }
                return (host, port)
            } catch {
                reasons.append("\(sentinel.host):\(sentinel.port): \(error)")
            }
        }
        throw RedisError(code: .connection, message: "no sentinel named the primary '\(name)': \(reasons.joined(separator: "; "))")
    }

    /// The known primary failed or was demoted: ask the sentinels again next time.
    func forget() { known.withLock { $0 = nil } }
}
