/// How the SMTP connection is secured.
public enum SMTPSecurity: String, Sendable {
    /// Plain SMTP (a local relay or the dev sink).
    case none
    /// `STARTTLS` required on the submission port.
    case starttls
    /// TLS from the first byte (`smtps://`, port 465).
    case implicit
}

/// Where and how to hand mail over: `sender.smtp_*` (docs/configuration.md).
public struct SMTPConfiguration: Sendable {
    /// `host:port`.
    public var server: String
    /// Plain, STARTTLS (required) or TLS from the start.
    public var security: SMTPSecurity
    /// The AUTH user; nil: no AUTH.
    public var username: String?
    /// The AUTH password (a secret: never logged).
    public var password: String?
    /// Bound on one message's whole session.
    public var timeout: Duration

    /// A server at `server` (`host:port`).
    public init(server: String, security: SMTPSecurity = .none, username: String? = nil, password: String? = nil, timeout: Duration = .seconds(30)) {
        self.server = server
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
    }
}

/// What an SMTP hand-off came to.
public enum SMTPOutcome: Sendable, Equatable {
    /// The server accepted the message (250 after DATA).
    case accepted
    /// A failure that may pass (4xx reply, or the session broke or timed out
    /// before the message was handed over): try again later.
    case temporary(String)
    /// The server could not be reached at all: nothing was attempted. An outage,
    /// not a failed attempt of this message.
    case unavailable(String)
    /// The server refused it for good (5xx reply, authentication): do not retry.
    case permanent(String)
    /// The whole message was handed over but no reply came (a timeout, a broken
    /// connection after DATA): the server may have it. Not retried, which could
    /// deliver it twice (docs/sender.md, "Ambiguous failures").
    case unknown(String)
}

/// One message to hand over: the envelope (`MAIL FROM`, `RCPT TO`) and the
/// message's bytes (headers and body, CRLF line ends).
public struct SMTPEnvelope: Sendable {
    /// The envelope sender (`MAIL FROM`).
    public var from: String
    /// The envelope recipients (`RCPT TO`).
    public var to: [String]
    /// The message as rendered (`EmailMessage.rendered()`).
    public var message: [UInt8]

    /// An envelope of `message` from `from` to `to`.
    public init(from: String, to: [String], message: [UInt8]) {
        self.from = from
        self.to = to
        self.message = message
    }
}

/// What became of one message of `SMTPClient.send(many:)`, and how long it took.
public struct SMTPExchange: Sendable {
    /// What the hand-off came to (accepted, temporary, unavailable, permanent, or no reply).
    public var outcome: SMTPOutcome
    /// From the start of the transfer to its end.
    public var duration: Duration
}

/// Sends email over SMTP through libcurl's multi interface: one thread of its own
/// runs every session, over at most `concurrency` connections, each reused from
/// message to message (curl's connection cache); more messages wait for one.
/// Nothing blocks Swift's cooperative pool.
public final class SMTPClient: Sendable {
    private let engine: CurlMulti<SMTPTransfer>
    private let configuration: SMTPConfiguration

    /// A client of `configuration`'s server over at most `concurrency` connections.
    public init(configuration: SMTPConfiguration, concurrency: Int = 4) {
        self.configuration = configuration
        engine = CurlMulti(maxConnections: max(1, concurrency), label: "curl.smtp")
    }

    deinit { engine.stop() }

    /// Hands one message to the server.
    public func send(from: String, to: [String], message: [UInt8]) async -> SMTPOutcome {
        await send(many: [SMTPEnvelope(from: from, to: to, message: message)])[0].outcome
    }

    /// Hands the messages over side by side (as connections allow) and returns
    /// when each has an outcome, in order: one suspension for the lot.
    public func send(many envelopes: [SMTPEnvelope]) async -> [SMTPExchange] {
        await engine.run(envelopes.map { SMTPTransfer(configuration: configuration, envelope: $0) })
            .map { SMTPExchange(outcome: $0.0, duration: $0.1) }
    }
}
