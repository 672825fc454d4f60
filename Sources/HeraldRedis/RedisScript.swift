import HeraldCore

/// A Lua script, loaded once per pool with `SCRIPT LOAD` and then called by SHA
/// with `EVALSHA`; a `NOSCRIPT` reply (server restarted or flushed) loads it again.
public struct RedisScript: Sendable, Hashable {
    /// A name for logs and errors.
    public let name: String
    /// The Lua, its first line `-- <name>`: a script loaded on a server (or seen
    /// in `MONITOR`, as `scripts/redis-cost/run` reads it) says what it is.
    public let source: String
    /// The SHA1 of `source` in hex, as Redis names the script. Computed once here:
    /// the pool used to find a script's SHA by its source, hashing a few KB on
    /// every call (about 3 % of the sender's CPU, docs/benchmarks.md).
    public let sha: String

    /// A script named `name` (its first line, for `SCRIPT` listings and errors) running `source`.
    public init(name: String, source: String) {
        self.name = name
        self.source = "-- \(name)\n" + source
        self.sha = Hashing.hex(Hashing.sha1(Array(self.source.utf8)))
    }
}
