/// Where Redis is and how the pool behaves.
public struct RedisConfiguration: Sendable {
    public var host: String
    public var port: Int
    /// Connections in the pool; each is owned by one slot.
    public var poolSize: Int = 8
    public var connectTimeout: Duration = .seconds(1)
    /// Read/write timeout of every command; a timed-out connection is discarded.
    public var commandTimeout: Duration = .seconds(2)
    /// First wait after a failed connect; doubles up to `maximumBackoff`.
    public var initialBackoff: Duration = .milliseconds(100)
    public var maximumBackoff: Duration = .seconds(5)

    public init(host: String = "127.0.0.1", port: Int = 6379) {
        self.host = host
        self.port = port
    }
}
