import Foundation
import HeraldCore

/// One configuration key: its dotted name, default and meaning (docs/configuration.md lists them all).
public struct ConfigurationKey: Sendable {
    public let name: String
    public let defaultValue: String
    public let help: String

    /// The environment variable that overrides it: `kafka.bootstrap_servers` → `HERALD_KAFKA_BOOTSTRAP_SERVERS`.
    public var environmentName: String {
        "HERALD_" + name.uppercased().replacingOccurrences(of: ".", with: "_")
    }
}

/// Why configuration could not be loaded: names the key (or file) and the bad value.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
    init(_ message: String) { self.message = message }
}

/// Herald's configuration: `config/herald.yaml`, overridden by `HERALD_*`
/// environment variables, overridden by `--set key=value` flags.
///
/// Unknown keys are errors (a typo must not silently fall back to a default).
public struct Configuration: Sendable {
    /// Every key with its default. Keep docs/configuration.md in step.
    public static let keys: [ConfigurationKey] = [
        .init(name: "kafka.bootstrap_servers", defaultValue: "127.0.0.1:9092", help: "Kafka brokers, host:port[,host:port]"),
        .init(name: "kafka.partitions", defaultValue: "24", help: "Partition count N of every keyed topic (= shard count)"),
        .init(name: "kafka.replication_factor", defaultValue: "1", help: "Replication factor of topics Herald creates"),
        .init(name: "kafka.create_topics", defaultValue: "true", help: "Create missing topics at start-up"),
        .init(name: "kafka.session_timeout", defaultValue: "10s", help: "Consumer-group session timeout"),
        .init(name: "kafka.fetch_wait_max", defaultValue: "20ms", help: "fetch.wait.max.ms of every consumer: the embedded (mock) broker holds an empty fetch this long, so it bounds each topic hop's latency; a real cluster answers when data arrives (500ms is librdkafka's default)"),
        .init(name: "kafka.max_attempts", defaultValue: "5", help: "A record whose processing fails this many times (a dependency outage does not count) goes to herald.dlq and its partition goes on"),
        .init(name: "kafka.message_timeout", defaultValue: "30s", help: "How long a produced record may take to be acknowledged"),
        .init(name: "redis.host", defaultValue: "127.0.0.1", help: "Redis host"),
        .init(name: "redis.port", defaultValue: "6379", help: "Redis port"),
        .init(name: "redis.pool_size", defaultValue: "8", help: "Redis connections per process"),
        .init(name: "redis.connect_timeout", defaultValue: "1s", help: "Redis connect timeout"),
        .init(name: "redis.command_timeout", defaultValue: "2s", help: "Timeout of every Redis call"),
        .init(name: "log.level", defaultValue: "info", help: "trace, debug, info, notice, warning, error, critical"),
        .init(name: "log.format", defaultValue: "text", help: "text or json (JSON lines)"),
        .init(name: "metrics.host", defaultValue: "0.0.0.0", help: "Address the metrics/health port binds to"),
        .init(name: "ingestor.metrics_port", defaultValue: "9401", help: "herald-ingestor's /metrics, /healthz, /readyz port"),
        .init(name: "scheduler.metrics_port", defaultValue: "9402", help: "herald-scheduler's metrics port"),
        .init(name: "sender.metrics_port", defaultValue: "9403", help: "herald-sender's metrics port"),
        .init(name: "alerter.metrics_port", defaultValue: "9404", help: "herald-alerter's metrics port"),
        .init(name: "api.host", defaultValue: "0.0.0.0", help: "Address the ingestor's API binds to"),
        .init(name: "api.port", defaultValue: "8080", help: "The ingestor's API port"),
        .init(name: "api.keys", defaultValue: "", help: "Ingest keys (secret, comma-separated): may post events to /v1/events and nothing else"),
        .init(name: "api.read_keys", defaultValue: "", help: "Read keys (secret, comma-separated): may read contacts, their journeys and messages"),
        .init(name: "api.admin_keys", defaultValue: "", help: "Admin keys (secret, comma-separated): everything, including changing and erasing contacts, campaigns and alert rules"),
        .init(name: "api.max_body_bytes", defaultValue: "1048576", help: "Largest request body; larger gets 413"),
        .init(name: "api.max_batch_events", defaultValue: "1000", help: "Most events in one batch request"),
        .init(name: "ingest.dedupe_window", defaultValue: "24h", help: "How long an event id is remembered for deduplication"),
        .init(name: "ingest.raw_batch_size", defaultValue: "20000", help: "Most records of herald.events.raw handled per batch (batches are only as large as the backlog)"),
        .init(name: "scheduler.poll_interval", defaultValue: "50ms", help: "How long the wake-up poller sleeps when nothing was due"),
        .init(name: "scheduler.sweep_interval", defaultValue: "30s", help: "How often date triggers are checked (each runs once a day at its local time)"),
        .init(name: "scheduler.test_wait", defaultValue: "5m", help: "Every wait of a test journey lasts at most this long"),
        .init(name: "sender.smtp_server", defaultValue: "127.0.0.1:2525", help: "SMTP server host:port (the dev stack's sink listens on 2525)"),
        .init(name: "sender.smtp_security", defaultValue: "none", help: "none, starttls (required) or implicit (smtps)"),
        .init(name: "sender.smtp_username", defaultValue: "", help: "SMTP user (empty: no AUTH)"),
        .init(name: "sender.smtp_password", defaultValue: "", help: "SMTP password"),
        .init(name: "sender.smtp_connections", defaultValue: "4", help: "SMTP connections per sender process (each reused between messages)"),
        .init(name: "sender.email_from", defaultValue: "herald@herald.example", help: "Envelope and From address of emails"),
        .init(name: "sender.email_from_name", defaultValue: "Herald", help: "From display name"),
        .init(name: "sender.templates_dir", defaultValue: "config/templates", help: "Directory of Mustache templates (email/<name>/subject|text|html.mustache)"),
        .init(name: "sender.max_attempts", defaultValue: "3", help: "Attempts before a message ends in error"),
        .init(name: "sender.retry_base", defaultValue: "2s", help: "Backoff base: attempt n waits a random time up to base × 2^(n-1)"),
        .init(name: "sender.lease", defaultValue: "60s", help: "How long a claim holds; after it a claim with no outcome counts as unknown"),
        .init(name: "sender.batches_in_flight", defaultValue: "2", help: "herald.sends batches a sender handles at once (the next is read and planned while the last one's calls are out)"),
        .init(name: "sender.webhook_secret", defaultValue: "", help: "Key of webhook signatures (HMAC-SHA256); webhooks are refused while empty"),
        .init(name: "sender.webhook_allowed_networks", defaultValue: "", help: "Non-public networks webhooks may reach (CIDRs, comma-separated); loopback, private, link-local and metadata addresses are refused otherwise, checked on the address connected to"),
        .init(name: "sender.webhook_timeout", defaultValue: "10s", help: "Timeout of one webhook call"),
        .init(name: "sender.http_connections", defaultValue: "64", help: "HTTP connections per sender process (webhooks, providers), all driven by one thread"),
        .init(name: "sender.whatsapp_api_url", defaultValue: "https://graph.facebook.com", help: "WhatsApp Cloud API base (the dev stack points it at its sandbox)"),
        .init(name: "sender.whatsapp_api_version", defaultValue: "v21.0", help: "Graph API version in WhatsApp URLs"),
        .init(name: "sender.whatsapp_phone_number_id", defaultValue: "", help: "The sending WhatsApp phone number id (empty: WhatsApp messages end sending_failed, not configured)"),
        .init(name: "sender.whatsapp_token", defaultValue: "", help: "WhatsApp Cloud API access token (secret; empty: WhatsApp is not configured)"),
        .init(name: "sender.twilio_api_url", defaultValue: "https://api.twilio.com", help: "Twilio API base (the dev stack points it at its sandbox)"),
        .init(name: "sender.twilio_account_sid", defaultValue: "", help: "Twilio account SID (empty: SMS messages end sending_failed, not configured)"),
        .init(name: "sender.twilio_auth_token", defaultValue: "", help: "Twilio auth token (secret; also verifies X-Twilio-Signature of status callbacks, which are refused while it is empty)"),
        .init(name: "sender.twilio_from", defaultValue: "+15005550006", help: "The SMS sender number"),
        .init(name: "limits.whatsapp_per_second", defaultValue: "80", help: "WhatsApp messages per second per phone number (Meta's default throughput)"),
        .init(name: "limits.whatsapp_recipient_interval", defaultValue: "6s", help: "At most one WhatsApp message per recipient per this interval (0s: none)"),
        .init(name: "limits.whatsapp_tier", defaultValue: "1000", help: "Unique WhatsApp recipients per rolling 24 h (250, 1000, 2000, 10000, 100000; 0 = unlimited); `heraldctl limits set-tier` overrides it at run time"),
        .init(name: "limits.sms_per_second", defaultValue: "0", help: "SMS per second from the sending number (0: no limit)"),
        .init(name: "sender.give_up_after", defaultValue: "24h", help: "A message the provider keeps deferring (throttled, or unreachable) ends in error this long after it was first seen"),
        .init(name: "sender.park_recheck", defaultValue: "10m", help: "A message held by a unique-recipient cap (a WhatsApp tier) is looked at again after at most this long, even if no tier change reaches it (`heraldctl limits set-tier` brings held messages forward at once); one held by a rate waits for its turn"),
        .init(name: "sender.public_url", defaultValue: "http://127.0.0.1:8080", help: "The ingestor's public URL, for unsubscribe links"),
        .init(name: "whatsapp.verify_token", defaultValue: "", help: "Token Meta's webhook verification must present (GET /v1/status/whatsapp)"),
        .init(name: "whatsapp.app_secret", defaultValue: "", help: "App secret that signs WhatsApp status webhooks (X-Hub-Signature-256); unsigned ones are refused"),
        .init(name: "alerts.dir", defaultValue: "config/alerts", help: "Alert rules as YAML files; each alerter saves them into Redis at start (the API and heraldctl manage the rest)"),
        .init(name: "alerts.templates_dir", defaultValue: "config/templates/alerts", help: "Alert email templates: <name>/subject|text|html.mustache ('default' unless a rule names another)"),
        .init(name: "alerts.session_timeout", defaultValue: "30m", help: "A page view with no next view or page_left within this long was closed: its time on the page is unknown and reaches no minimum"),
        .init(name: "unsubscribe.secret", defaultValue: "", help: "Key of unsubscribe link tokens, shared by ingestor and sender; without it emails carry no unsubscribe link"),
        .init(name: "limits.email_per_second", defaultValue: "0", help: "Emails per second across all senders (0: no limit)"),
        .init(name: "limits.email_per_domain_per_second", defaultValue: "0", help: "Emails per second to one receiving domain (0: no limit)"),
        .init(name: "limits.webhook_per_second", defaultValue: "0", help: "Webhook calls per second across all senders (0: no limit)"),
        .init(name: "limits.marketing_per_contact_per_day", defaultValue: "0", help: "Marketing messages one contact may get per UTC day, all campaigns together (0: no cap)"),
        .init(name: "shutdown.timeout", defaultValue: "20s", help: "Bound on graceful shutdown after SIGTERM/SIGINT"),
        .init(name: "dev.mode", defaultValue: "false", help: "Part of the dev stack or a test: allows the sandbox's tokens and provider URLs on loopback, which a worker otherwise refuses at start (`heraldctl dev` sets it; never in production)"),
    ]

    private static let keyNames = Set(keys.map(\.name))

    /// Resolved values by key.
    public private(set) var values: [String: String]
    /// Where each value came from ("default", a file path, an environment variable, "--set").
    public private(set) var sources: [String: String]

    /// Loads configuration.
    ///
    /// - Parameters:
    ///   - file: a YAML file; nil means `HERALD_CONFIG`, else `config/herald.yaml` if it
    ///     exists; "" means no file (defaults, environment and overrides only).
    ///   - environment: usually `ProcessInfo.processInfo.environment`.
    ///   - overrides: `key=value` pairs from `--set`.
    /// - Throws: `ConfigurationError` naming the file, key or value at fault.
    public static func load(file: String?, environment: [String: String], overrides: [String]) throws -> Configuration {
        var config = Configuration(values: [:], sources: [:])
        for key in keys {
            config.values[key.name] = key.defaultValue
            config.sources[key.name] = "default"
        }
        let path = file ?? environment["HERALD_CONFIG"] ?? (FileManager.default.fileExists(atPath: "config/herald.yaml") ? "config/herald.yaml" : nil)
        if let path, !path.isEmpty {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("cannot read configuration file '\(path)'")
            }
            // Herald's one YAML reader (`YAMLValue`): Yams' own `load` traps on a
            // base-60 integer past `Int` (docs/fuzzing.md).
            let parsed: JSONValue?
            do { parsed = try YAMLValue.document(text) } catch { throw ConfigurationError("\(path) is \(error.reason)") }
            if let parsed, parsed != .null {
                guard let root = parsed.objectValue else { throw ConfigurationError("\(path): the top level must be a mapping") }
                for (key, value) in flatten(root, prefix: "") {
                    try config.set(key, value, source: path)
                }
            }
        }
        for key in keys {
            if let value = environment[key.environmentName] { try config.set(key.name, value, source: key.environmentName) }
        }
        for pair in overrides {
            guard let eq = pair.firstIndex(of: "=") else {
                throw ConfigurationError("--set '\(pair)': expected key=value")
            }
            try config.set(String(pair[..<eq]), String(pair[pair.index(after: eq)...]), source: "--set")
        }
        _ = try config.settings()  // every value checked at start-up, not at first use
        return config
    }

    /// Defaults only (for tests and tools).
    public static func defaults() -> Configuration {
        try! load(file: "", environment: [:], overrides: [])
    }

    /// Sets one key, refusing unknown ones.
    public mutating func set(_ key: String, _ value: String, source: String = "code") throws {
        guard Self.keyNames.contains(key) else {
            throw ConfigurationError("unknown configuration key '\(key)' (from \(source)); see docs/configuration.md")
        }
        values[key] = value
        sources[key] = source
    }

    private static func flatten(_ map: [String: JSONValue], prefix: String) -> [(String, String)] {
        var out: [(String, String)] = []
        for (k, v) in map {
            let key = prefix.isEmpty ? k : "\(prefix).\(k)"
            switch v {
            case .object(let nested): out += flatten(nested, prefix: key)
            case .array(let list): out.append((key, list.map(scalarText).joined(separator: ",")))
            default: out.append((key, scalarText(v)))
            }
        }
        return out
    }

    /// A YAML scalar as configuration text; a nested list or mapping as its JSON.
    private static func scalarText(_ v: JSONValue) -> String {
        v.scalarText ?? String(decoding: v.serialized(), as: UTF8.self)
    }

    // MARK: - Typed access

    func raw(_ key: String) -> String { values[key] ?? "" }

    /// Keys whose values are secrets: an error names the key and where the value
    /// came from, never the value.
    public static let secretKeys: Set<String> = [
        "api.keys", "api.read_keys", "api.admin_keys", "sender.smtp_password", "sender.webhook_secret", "sender.whatsapp_token", "sender.twilio_auth_token",
        "whatsapp.verify_token", "whatsapp.app_secret", "unsubscribe.secret",
    ]

    func bad(_ key: String, _ expected: String) -> ConfigurationError {
        let shown = Self.secretKeys.contains(key) ? "(secret, not shown)" : "'\(raw(key))'"
        return ConfigurationError("configuration key '\(key)' = \(shown) (from \(sources[key] ?? "?")): \(expected)")
    }

    public func string(_ key: String) -> String { raw(key) }

    public func int(_ key: String, in range: ClosedRange<Int> = Int.min...Int.max) throws -> Int {
        guard let v = Int(raw(key).trimmingCharacters(in: .whitespaces)), range.contains(v) else {
            throw bad(key, "expected an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return v
    }

    public func bool(_ key: String) throws -> Bool {
        switch raw(key).lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw bad(key, "expected true or false")
        }
    }

    public func list(_ key: String) -> [String] {
        raw(key).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Durations: `250ms`, `2s`, `5m`, `24h`, `7d`.
    public func duration(_ key: String) throws -> Duration {
        guard let d = Self.parseDuration(raw(key)), d > .zero else {
            throw bad(key, "expected a positive duration such as 250ms, 2s, 5m, 24h or 7d")
        }
        return d
    }

    /// The configuration's durations use Herald's one grammar (`DurationText`).
    public static func parseDuration(_ text: String) -> Duration? { DurationText.parseOrNil(text) }
}
