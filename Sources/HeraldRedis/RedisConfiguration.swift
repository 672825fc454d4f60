/// Where Redis is and how the pool behaves.
public struct RedisConfiguration: Sendable {
    /// Redis's host name or address.
    public var host: String
    /// Redis's port.
    public var port: Int
    /// Connections in the pool; each is owned by one slot.
    public var poolSize: Int = 8
    /// Bound on one connection attempt.
    public var connectTimeout: Duration = .seconds(1)
    /// Read/write timeout of every command; a timed-out connection is discarded.
    public var commandTimeout: Duration = .seconds(2)
    /// First wait after a failed connect; doubles up to `maximumBackoff`.
    public var initialBackoff: Duration = .milliseconds(100)
    /// The longest wait between connection attempts.
    public var maximumBackoff: Duration = .seconds(5)
    /// An ACL user (Redis 6+); empty: the default user.
    public var username = ""
    /// The password sent with `AUTH` on every new connection; empty: none.
    public var password = ""
    /// The logical database (`SELECT`), 0 by default.
    public var database = 0
    /// Redis Sentinel: these sentinels name the primary of `sentinelMaster`, and
    /// `host`/`port` are not used. Empty: connect to `host`/`port`.
    public var sentinels: [(host: String, port: Int)] = []
    /// The name the sentinels monitor the primary under.
    public var sentinelMaster = "mymaster"
    /// The sentinels' own password (`requirepass` in sentinel.conf); empty: none.
    public var sentinelPassword = ""

    /// Redis at `host`:`port`, with the other settings at their defaults.
    public init(host: String = "127.0.0.1", port: Int = 6379) {
        self.host = host
        self.port = port
    }
}
