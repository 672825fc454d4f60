import Foundation
import HeraldCore
import Logging

/// A configuration key and how its text becomes a checked value: declared once,
/// in `ConfigurationKeys`, with its default, meaning and whether it is a secret.
/// `Configuration` lists, loads, checks and documents the keys from these
/// declarations, and `Settings` reads its values through them.
struct Setting<Value: Sendable>: Sendable {
    /// The key's name, default text, help and secrecy.
    let key: ConfigurationKey
    /// The value of a key's text, or why the text is not one.
    let convert: @Sendable (String) throws(SettingRefusal) -> Value

    /// Any value, checked by `convert`; the error names what was expected.
    static func custom(
        _ name: String, _ defaultValue: String, secret: Bool = false, _ help: String, convert: @escaping @Sendable (String) throws(SettingRefusal) -> Value
    ) -> Setting {
        Setting(key: ConfigurationKey(name: name, defaultValue: defaultValue, help: help, isSecret: secret), convert: convert)
    }
}

/// Why a key's text is not a value of the key: what was expected instead.
struct SettingRefusal: Error, Sendable {
    let expected: String
    init(_ expected: String) { self.expected = expected }
}

extension Setting where Value == String {
    /// Text, taken as it is.
    static func text(_ name: String, _ defaultValue: String, secret: Bool = false, _ help: String) -> Setting {
        .custom(name, defaultValue, secret: secret, help) { $0 }
    }
}

extension Setting where Value == String {
    /// A file or directory; a relative one is resolved against the
    /// configuration file's directory or the working directory
    /// (`Configuration.resolvePaths`).
    static func path(_ name: String, _ defaultValue: String, _ help: String) -> Setting {
        var key = ConfigurationKey(name: name, defaultValue: defaultValue, help: help, isSecret: false)
        key.isPath = true
        return Setting(key: key) { $0 }
    }
}

extension Setting where Value == String {
    /// One of `choices`, as written.
    static func oneOf(_ name: String, _ defaultValue: String, _ choices: [String], _ help: String) -> Setting {
        .custom(name, defaultValue, help) { text throws(SettingRefusal) in
            guard choices.contains(text) else { throw SettingRefusal("expected one of \(choices.joined(separator: ", "))") }
            return text
        }
    }
}

extension Setting where Value == [String] {
    /// A comma-separated list; blanks around items and empty items are dropped.
    static func list(_ name: String, _ defaultValue: String, secret: Bool = false, _ help: String) -> Setting {
        .custom(name, defaultValue, secret: secret, help) { listItems($0) }
    }
}

extension Setting where Value == Int {
    /// An integer within `range`.
    static func integer(_ name: String, _ defaultValue: Int, in range: ClosedRange<Int>, _ help: String) -> Setting {
        .custom(name, String(defaultValue), help) { text throws(SettingRefusal) in
            guard let v = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(v) else {
                throw SettingRefusal("expected an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return v
        }
    }
}

extension Setting where Value == Bool {
    /// `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`).
    static func flag(_ name: String, _ defaultValue: Bool, _ help: String) -> Setting {
        .custom(name, String(defaultValue), help) { text throws(SettingRefusal) in
            switch text.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw SettingRefusal("expected true or false")
            }
        }
    }
}

extension Setting where Value == Duration {
    /// A positive duration in Herald's one grammar (`DurationText`): `250ms`, `2s`, `5m`, `24h`, `7d`.
    static func duration(_ name: String, _ defaultValue: String, _ help: String) -> Setting {
        .custom(name, defaultValue, help) { text throws(SettingRefusal) in
            guard let d = DurationText.parseOrNil(text), d > .zero else {
                throw SettingRefusal("expected a positive duration such as 250ms, 2s, 5m, 24h or 7d")
            }
            return d
        }
    }
}

/// The items of a comma-separated value.
func listItems(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// Every configuration key, each declared once (docs/configuration.md lists
/// them; `ConfigurationTests.documented` keeps the two equal). The keys are
/// found by reflecting over these properties, so a key declared here is
/// loadable, settable from the environment, checked at start-up and required
/// in the docs without being named anywhere else.
struct ConfigurationKeys: Sendable {
    /// The one instance: the declarations hold no state.
    static let shared = ConfigurationKeys()

    let kafkaBootstrapServers: Setting<String> = .custom("kafka.bootstrap_servers", "127.0.0.1:9092", "Kafka brokers, host:port[,host:port]") {
        text throws(SettingRefusal) in
        guard !text.isEmpty else { throw SettingRefusal("must not be empty") }
        return text
    }
    let kafkaPartitions: Setting<Int> = .integer("kafka.partitions", 24, in: 1...10_000, "Partition count N of every keyed topic (= shard count)")
    let kafkaReplicationFactor: Setting<Int> = .integer("kafka.replication_factor", 1, in: 1...16, "Replication factor of topics Herald creates")
    let kafkaCreateTopics: Setting<Bool> = .flag("kafka.create_topics", true, "Create missing topics at start-up")
    let kafkaSessionTimeout: Setting<Duration> = .duration("kafka.session_timeout", "10s", "Consumer-group session timeout")
    let kafkaFetchWaitMax: Setting<Duration> = .duration(
        "kafka.fetch_wait_max", "20ms",
        "fetch.wait.max.ms of every consumer: the embedded (mock) broker holds an empty fetch this long, so it bounds each topic hop's latency; a real cluster answers when data arrives (500ms is librdkafka's default)"
    )
    let kafkaMaxAttempts: Setting<Int> = .integer(
        "kafka.max_attempts", 5, in: 1...100,
        "A record whose processing fails this many times (a dependency outage does not count) goes to herald.dlq and its partition goes on")
    let kafkaMessageTimeout: Setting<Duration> = .duration("kafka.message_timeout", "30s", "How long a produced record may take to be acknowledged")
    let kafkaSecurityProtocol: Setting<String> = .oneOf(
        "kafka.security_protocol", "plaintext", ["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"],
        "librdkafka's security.protocol for every client (producers, consumers, topic admin): sasl_ssl for Confluent Cloud and MSK with SASL/SCRAM, ssl for MSK with TLS only"
    )
    let kafkaSASLMechanism: Setting<String> = .oneOf(
        "kafka.sasl_mechanism", "PLAIN", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"],
        "sasl.mechanisms when the protocol is sasl_*: PLAIN (Confluent Cloud API keys) or SCRAM (MSK)")
    let kafkaSASLUsername: Setting<String> = .text("kafka.sasl_username", "", secret: true, "sasl.username (a Confluent Cloud API key, an MSK SCRAM user)")
    let kafkaSASLPassword: Setting<String> = .text("kafka.sasl_password", "", secret: true, "sasl.password (the API secret, the SCRAM password)")
    let kafkaSSLCALocation: Setting<String> = .path(
        "kafka.ssl_ca_location", "", "ssl.ca.location: CA certificates (PEM) to verify the brokers; empty: the system's (ca-certificates)")
    let kafkaSSLCertificateLocation: Setting<String> = .path(
        "kafka.ssl_certificate_location", "", "ssl.certificate.location: this client's certificate (PEM), for mutual TLS")
    let kafkaSSLKeyLocation: Setting<String> = .path("kafka.ssl_key_location", "", "ssl.key.location: this client's private key (PEM), for mutual TLS")
    let kafkaSSLKeyPassword: Setting<String> = .text("kafka.ssl_key_password", "", secret: true, "ssl.key.password, when the private key is encrypted")
    let kafkaTopicPrefix: Setting<String> = .custom(
        "kafka.topic_prefix", "",
        "Put before every topic and consumer-group name at the broker (a shared cluster's namespace, e.g. shop1.): herald.events becomes shop1.herald.events"
    ) { text throws(SettingRefusal) in
        // Kafka's legal topic characters; the longest name (herald.events.raw, 17) must stay within 249.
        guard text.count <= 200, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-") }) else {
            throw SettingRefusal("expected at most 200 of a-z, A-Z, 0-9, '.', '_' and '-'")
        }
        return text
    }
    let kafkaCompression: Setting<String> = .oneOf(
        "kafka.compression", "none", ["none", "gzip", "snappy", "lz4", "zstd"],
        "compression.codec of every producer (lz4 or zstd saves network and broker storage)")
    let redisHost: Setting<String> = .text("redis.host", "127.0.0.1", "Redis host")
    let redisPort: Setting<Int> = .integer("redis.port", 6379, in: 1...65535, "Redis port")
    let redisPoolSize: Setting<Int> = .integer("redis.pool_size", 8, in: 1...1024, "Redis connections per process")
    let redisConnectTimeout: Setting<Duration> = .duration("redis.connect_timeout", "1s", "Redis connect timeout")
    let redisCommandTimeout: Setting<Duration> = .duration("redis.command_timeout", "2s", "Timeout of every Redis call")
    let redisUsername: Setting<String> = .text("redis.username", "", "ACL user (Redis 6+) that AUTH names; empty: the default user")
    let redisPassword: Setting<String> = .text("redis.password", "", secret: true, "Password sent with AUTH on every connection; empty: no AUTH")
    let redisDatabase: Setting<Int> = .integer("redis.database", 0, in: 0...1_000, "Logical database every connection SELECTs")
    let redisSentinels: Setting<[(host: String, port: Int)]> = .custom(
        "redis.sentinels", "",
        "Redis Sentinel: host:port of each sentinel (comma-separated); they name the primary, and redis.host/port are not used. Empty: no Sentinel"
    ) { text throws(SettingRefusal) in
        var out: [(host: String, port: Int)] = []
        for item in listItems(text) {
            guard let colon = item.lastIndex(of: ":"), let port = Int(item[item.index(after: colon)...]), (1...65535).contains(port), colon > item.startIndex
            else { throw SettingRefusal("expected host:port items, such as sentinel-1:26379") }
            out.append((String(item[..<colon]), port))
        }
        return out
    }
    let redisSentinelMaster: Setting<String> = .text("redis.sentinel_master", "mymaster", "The name the sentinels monitor the primary under")
    let redisSentinelPassword: Setting<String> = .text(
        "redis.sentinel_password", "", secret: true, "The sentinels' own password (requirepass in sentinel.conf); empty: none")
    let logLevel: Setting<Logger.Level> = .custom("log.level", "info", "trace, debug, info, notice, warning, error, critical") {
        text throws(SettingRefusal) in
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            throw SettingRefusal("expected one of trace, debug, info, notice, warning, error, critical")
        }
        return level
    }
    let logFormat: Setting<LogFormat> = .custom("log.format", "text", "text or json (JSON lines)") { text throws(SettingRefusal) in
        guard let format = LogFormat(rawValue: text.lowercased()) else { throw SettingRefusal("expected text or json") }
        return format
    }
    let metricsHost: Setting<String> = .text("metrics.host", "0.0.0.0", "Address the metrics/health port binds to")
    let ingestorMetricsPort: Setting<Int> = .integer("ingestor.metrics_port", 9401, in: 0...65535, "herald-ingestor's /metrics, /healthz, /readyz port")
    let schedulerMetricsPort: Setting<Int> = .integer("scheduler.metrics_port", 9402, in: 0...65535, "herald-scheduler's metrics port")
    let senderMetricsPort: Setting<Int> = .integer("sender.metrics_port", 9403, in: 0...65535, "herald-sender's metrics port")
    let alerterMetricsPort: Setting<Int> = .integer("alerter.metrics_port", 9404, in: 0...65535, "herald-alerter's metrics port")
    let apiHost: Setting<String> = .text("api.host", "0.0.0.0", "Address the ingestor's API binds to")
    let apiPort: Setting<Int> = .integer("api.port", 8080, in: 0...65535, "The ingestor's API port")
    let apiKeys: Setting<[String]> = .list(
        "api.keys", "", secret: true, "Ingest keys (secret, comma-separated): may post events to /v1/events and nothing else")
    let apiReadKeys: Setting<[String]> = .list(
        "api.read_keys", "", secret: true, "Read keys (secret, comma-separated): may read contacts, their journeys and messages")
    let apiAdminKeys: Setting<[String]> = .list(
        "api.admin_keys", "", secret: true,
        "Admin keys (secret, comma-separated): everything, including changing and erasing contacts, campaigns and alert rules")
    let importsMaxBytes: Setting<Int> = .integer(
        "imports.max_bytes", 1 << 30, in: 1024...(1 << 36), "Largest CSV a POST /v1/imports takes (spooled to imports.dir); larger gets 413")
    let importsStaleAfter: Setting<Duration> = .duration(
        "imports.stale_after", "30s",
        "A running import without a heartbeat (every 5 s while its process lives) for this long was abandoned: a retry of it resumes it")
    let importsBatchesAhead: Setting<Int> = .integer(
        "imports.batches_ahead", 40, in: 1...10_000,
        "Import batches (1,000 rows each) an ingestor's imports together may have produced and not yet applied to the profiles")
    let importsDir: Setting<String> = .path("imports.dir", "/tmp", "Where the ingestor spools uploaded CSVs while it imports them")
    let broadcastsPlannerLease: Setting<Duration> = .duration(
        "broadcasts.planner_lease", "30s",
        "How long an ingestor's broadcast planner holds a broadcast without renewing: a planner that died is taken over after this")
    let apiMaxBodyBytes: Setting<Int> = .integer("api.max_body_bytes", 1048576, in: 1024...(1 << 30), "Largest request body; larger gets 413")
    let apiMaxBatchEvents: Setting<Int> = .integer("api.max_batch_events", 1000, in: 1...100_000, "Most events in one batch request")
    let ingestDedupeWindow: Setting<Duration> = .duration("ingest.dedupe_window", "24h", "How long an event id is remembered for deduplication")
    let ingestRawBatchSize: Setting<Int> = .integer(
        "ingest.raw_batch_size", 20000, in: 1...100_000, "Most records of herald.events.raw handled per batch (batches are only as large as the backlog)")
    let schedulerPollInterval: Setting<Duration> = .duration(
        "scheduler.poll_interval", "50ms", "How long the wake-up poller sleeps when nothing was due")
    let schedulerSweepInterval: Setting<Duration> = .duration(
        "scheduler.sweep_interval", "30s", "How often date triggers are checked (each runs once a day at its local time)")
    let schedulerTestWait: Setting<Duration> = .duration("scheduler.test_wait", "5m", "Every wait of a test journey lasts at most this long")
    let senderSMTPServer: Setting<String> = .text("sender.smtp_server", "127.0.0.1:2525", "SMTP server host:port (the dev stack's sink listens on 2525)")
    let senderSMTPSecurity: Setting<String> = .custom("sender.smtp_security", "none", "none, starttls (required) or implicit (smtps)") {
        text throws(SettingRefusal) in
        guard ["none", "starttls", "implicit"].contains(text) else { throw SettingRefusal("expected none, starttls or implicit") }
        return text
    }
    let senderSMTPUsername: Setting<String> = .text("sender.smtp_username", "", "SMTP user (empty: no AUTH)")
    let senderSMTPPassword: Setting<String> = .text("sender.smtp_password", "", secret: true, "SMTP password")
    let senderSMTPConnections: Setting<Int> = .integer(
        "sender.smtp_connections", 4, in: 1...256, "SMTP connections per sender process (each reused between messages)")
    let senderEmailFrom: Setting<String> = .custom("sender.email_from", "herald@herald.example", "Envelope and From address of emails") {
        text throws(SettingRefusal) in
        guard text.contains("@"), !text.contains(" "), !text.contains("\n") else { throw SettingRefusal("expected an email address") }
        return text
    }
    let senderEmailFromName: Setting<String> = .text("sender.email_from_name", "Herald", "From display name")
    let senderTemplatesDir: Setting<String> = .path(
        "sender.templates_dir", "templates",
        "Directory of message templates (email/<name>/subject|text|html.mustache, sms/, whatsapp/); must exist when the sender starts")
    let senderAccountsDir: Setting<String> = .path(
        "sender.accounts_dir", "accounts",
        "Directory of further sending accounts: whatsapp/<name>.yaml per WhatsApp number, named by campaigns' send steps (absent: none)")
    let senderMaxAttempts: Setting<Int> = .integer("sender.max_attempts", 3, in: 1...100, "Attempts before a message ends in error")
    let senderRetryBase: Setting<Duration> = .duration("sender.retry_base", "2s", "Backoff base: attempt n waits a random time up to base × 2^(n-1)")
    let senderLease: Setting<Duration> = .duration("sender.lease", "60s", "How long a claim holds; after it a claim with no outcome counts as unknown")
    let senderBatchesInFlight: Setting<Int> = .integer(
        "sender.batches_in_flight", 2, in: 1...8,
        "herald.sends batches a sender handles at once (the next is read and planned while the last one's calls are out)")
    let senderWebhookSecret: Setting<String> = .text(
        "sender.webhook_secret", "", secret: true, "Key of webhook signatures (HMAC-SHA256); webhooks are refused while empty")
    let senderWebhookAllowedNetworks: Setting<[AddressPolicy.Network]> = .custom(
        "sender.webhook_allowed_networks", "",
        "Non-public networks webhooks may reach (CIDRs, comma-separated); loopback, private, link-local and metadata addresses are refused otherwise, checked on the address connected to"
    ) { text throws(SettingRefusal) in
        try listItems(text).map { item throws(SettingRefusal) in
            guard let network = AddressPolicy.Network(item) else { throw SettingRefusal("'\(item)' is not a network such as 10.20.0.0/16 or fd00::/8") }
            return network
        }
    }
    let senderWebhookTimeout: Setting<Duration> = .duration("sender.webhook_timeout", "10s", "Timeout of one webhook call")
    let senderHTTPConnections: Setting<Int> = .integer(
        "sender.http_connections", 64, in: 1...1024, "HTTP connections per sender process (webhooks, providers), all driven by one thread")
    let senderWhatsAppAPIURL: Setting<String> = .text(
        "sender.whatsapp_api_url", "https://graph.facebook.com", "WhatsApp Cloud API base (the dev stack points it at its sandbox)")
    let senderWhatsAppAPIVersion: Setting<String> = .text("sender.whatsapp_api_version", "v21.0", "Graph API version in WhatsApp URLs")
    let senderWhatsAppPhoneNumberId: Setting<String> = .text(
        "sender.whatsapp_phone_number_id", "", "The sending WhatsApp phone number id (empty: WhatsApp messages end sending_failed, not configured)")
    let senderWhatsAppToken: Setting<String> = .text(
        "sender.whatsapp_token", "", secret: true, "WhatsApp Cloud API access token (secret; empty: WhatsApp is not configured)")
    let senderTwilioAPIURL: Setting<String> = .text(
        "sender.twilio_api_url", "https://api.twilio.com", "Twilio API base (the dev stack points it at its sandbox)")
    let senderTwilioAccountSid: Setting<String> = .text(
        "sender.twilio_account_sid", "", "Twilio account SID (empty: SMS messages end sending_failed, not configured)")
    let senderTwilioAuthToken: Setting<String> = .text(
        "sender.twilio_auth_token", "", secret: true,
        "Twilio auth token (secret; also verifies X-Twilio-Signature of status callbacks, which are refused while it is empty)")
    let senderTwilioFrom: Setting<String> = .text("sender.twilio_from", "+15005550006", "The SMS sender number")
    let limitsWhatsAppPerSecond: Setting<Int> = .integer(
        "limits.whatsapp_per_second", 80, in: 0...1_000_000, "WhatsApp messages per second per phone number (Meta's default throughput)")
    let limitsWhatsAppRecipientInterval: Setting<Duration> = .duration(
        "limits.whatsapp_recipient_interval", "6s", "At most one WhatsApp message per recipient per this interval (0s: none)")
    let limitsWhatsAppTier: Setting<Int> = .integer(
        "limits.whatsapp_tier", 1000, in: 0...100_000_000,
        "Unique WhatsApp recipients per rolling 24 h (250, 1000, 2000, 10000, 100000; 0 = unlimited); `heraldctl limits set-tier` overrides it at run time")
    let limitsSMSPerSecond: Setting<Int> = .integer(
        "limits.sms_per_second", 0, in: 0...1_000_000, "SMS per second from the sending number (0: no limit)")
    let senderGiveUpAfter: Setting<Duration> = .duration(
        "sender.give_up_after", "24h", "A message the provider keeps deferring (throttled, or unreachable) ends in error this long after it was first seen")
    let senderParkRecheck: Setting<Duration> = .duration(
        "sender.park_recheck", "10m",
        "A message held by a unique-recipient cap (a WhatsApp tier) is looked at again after at most this long, even if no tier change reaches it (`heraldctl limits set-tier` brings held messages forward at once); one held by a rate waits for its turn"
    )
    let senderPublicURL: Setting<String> = .text("sender.public_url", "http://127.0.0.1:8080", "The ingestor's public URL, for unsubscribe links")
    let whatsAppVerifyToken: Setting<String> = .text(
        "whatsapp.verify_token", "", secret: true, "Token Meta's webhook verification must present (GET /v1/status/whatsapp)")
    let whatsAppAppSecret: Setting<String> = .text(
        "whatsapp.app_secret", "", secret: true, "App secret that signs WhatsApp status webhooks (X-Hub-Signature-256); unsigned ones are refused")
    let alertsDir: Setting<String> = .path(
        "alerts.dir", "alerts", "Alert rules as YAML files; each alerter saves them into Redis at start (the API and heraldctl manage the rest); must exist")
    let alertsTemplatesDir: Setting<String> = .path(
        "alerts.templates_dir", "templates/alerts", "Alert email templates: <name>/subject|text|html.mustache ('default' unless a rule names another)")
    let alertsSessionTimeout: Setting<Duration> = .duration(
        "alerts.session_timeout", "30m",
        "A page view with no next view or page_left within this long was closed: its time on the page is unknown and reaches no minimum")
    let unsubscribeSecret: Setting<String> = .text(
        "unsubscribe.secret", "", secret: true, "Key of unsubscribe link tokens, shared by ingestor and sender; without it emails carry no unsubscribe link")
    let limitsEmailPerSecond: Setting<Int> = .integer(
        "limits.email_per_second", 0, in: 0...1_000_000, "Emails per second across all senders (0: no limit)")
    let limitsEmailPerDomainPerSecond: Setting<Int> = .integer(
        "limits.email_per_domain_per_second", 0, in: 0...1_000_000, "Emails per second to one receiving domain (0: no limit)")
    let limitsWebhookPerSecond: Setting<Int> = .integer(
        "limits.webhook_per_second", 0, in: 0...1_000_000, "Webhook calls per second across all senders (0: no limit)")
    let limitsMarketingPerContactPerDay: Setting<Int> = .integer(
        "limits.marketing_per_contact_per_day", 0, in: 0...1_000_000, "Marketing messages one contact may get per UTC day, all campaigns together (0: no cap)")
    let shutdownTimeout: Setting<Duration> = .duration("shutdown.timeout", "20s", "Bound on graceful shutdown after SIGTERM/SIGINT")
    let healthStallAfter: Setting<Duration> = .custom(
        "health.stall_after", "2m",
        "/healthz answers 503 when a consumer loop or poller has not gone round for this long (a liveness probe then restarts the worker); at least 15s"
    ) { text throws(SettingRefusal) in
        // A loop waiting out an outage goes round every 10 s at the slowest (`KafkaConsumer.backoff`).
        guard let d = DurationText.parseOrNil(text), d >= .seconds(15) else { throw SettingRefusal("expected a duration of at least 15s") }
        return d
    }
    let devMode: Setting<Bool> = .flag(
        "dev.mode", false,
        "Part of the dev stack or a test: allows the sandbox's tokens and provider URLs on loopback, which a worker otherwise refuses at start (`heraldctl dev` sets it; never in production)"
    )

    /// Every declared key, in declaration order.
    var all: [ConfigurationKey] {
        Mirror(reflecting: self).children.compactMap { ($0.value as? any DeclaredKey)?.key }
    }
}

/// What `ConfigurationKeys.all` finds by reflection: any `Setting`, whatever its value type.
protocol DeclaredKey {
    var key: ConfigurationKey { get }
}

extension Setting: DeclaredKey {}
