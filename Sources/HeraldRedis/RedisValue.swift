import HeraldCore

/// A Redis reply.
public enum RedisValue: Sendable, Hashable {
    case null
    case integer(Int64)
    /// A bulk string, as bytes.
    case bulk([UInt8])
    /// A simple status such as `OK`.
    case status(String)
    /// An error reply (`ERR ...`, `NOSCRIPT ...`). Only pipelines return these as
    /// values; single commands throw them as `RedisError.server`.
    case error(String)
    case array([RedisValue])

    /// The reply as text: bulk strings and statuses.
    public var string: String? {
        switch self {
        case .bulk(let b): String(decoding: b, as: UTF8.self)
        case .status(let s): s
        default: nil
        }
    }

    /// The reply as an integer: integer replies and numeric bulk strings.
    public var int: Int64? {
        switch self {
        case .integer(let i): i
        case .bulk(let b): Int64(String(decoding: b, as: UTF8.self))
        default: nil
        }
    }

    /// True for a nil reply (a missing key).
    public var isNull: Bool { self == .null }

    /// The elements of an array reply; nil for any other reply.
    public var array: [RedisValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
}

/// An error talking to Redis, mapped once.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure: how to react to it (an outage waits, a server error does not).
    public enum Code: String, Sendable, Hashable {
        /// Could not connect, or the connection broke (the connection was discarded).
        case connection
        /// The call exceeded its timeout (the connection was discarded).
        case timeout
        /// The server answered with an error reply.
        case server
        /// The pool is backing off after failed connects; try later.
        case unavailable
        /// The pool is closed.
        case closed
    }

    /// The kind of failure.
    public var code: Code
    /// What hiredis or the server said.
    public var message: String

    /// A failure of `code`, explained by `message`.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// Whether the same call may succeed later. Server errors are not retriable,
    /// except `BUSY`/`LOADING`/`TRYAGAIN`-style transient ones.
    public var isRetriable: Bool {
        switch code {
        case .connection, .timeout, .unavailable: true
        case .closed: false
        case .server: message.hasPrefix("LOADING") || message.hasPrefix("BUSY") || message.hasPrefix("TRYAGAIN") || message.hasPrefix("CLUSTERDOWN")
        }
    }

    /// `Redis <code> error: <message>`.
    public var description: String { "Redis \(code.rawValue) error: \(message)" }
}

extension RedisError: DependencyFailure {
    /// Redis cannot be reached or cannot take writes now (read-only replica,
    /// loading, out of memory under `noeviction`, a cluster without a master).
    /// A script's own error (`ERR …` about the data) is not an outage.
    public var isOutage: Bool {
        switch code {
        case .connection, .timeout, .unavailable, .closed: true
        case .server:
            ["LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "OOM", "MASTERDOWN", "NOREPLICAS", "MISCONF"].contains { message.hasPrefix($0) }
        }
    }
}
