/// A Lua script, loaded once per server with `SCRIPT LOAD` and then called by SHA
/// with `EVALSHA`; a `NOSCRIPT` reply (server restarted or flushed) loads it again.
public struct RedisScript: Sendable, Hashable {
    /// A name for logs and errors.
    public let name: String
    public let source: String

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }
}
