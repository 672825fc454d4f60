import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging

/// The typed view of `Configuration`, checked once at start-up.
public struct Settings: Sendable {
    public var kafkaBootstrapServers: String
    public var partitions: Int
    public var replicationFactor: Int
    public var createTopics: Bool
    public var sessionTimeout: Duration
    public var fetchWaitMax: Duration
    public var messageTimeout: Duration
    /// `kafka.max_attempts`: failures of one record (outages not counted) before it goes to herald.dlq.
    public var kafkaMaxAttempts: Int
    public var redis: RedisConfiguration
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    public var metricsHost: String
    public var metricsPorts: [Worker: Int]
    public var apiHost: String
    public var apiPort: Int
    public var apiKeys: Set<String>
    public var adminKeys: Set<String>
    /// `api.read_keys`: may read contacts, journeys and messages.
    public var readKeys: Set<String>
    public var maxBodyBytes: Int
    public var maxBatchEvents: Int
    public var dedupeWindow: Duration
    public var rawBatchSize: Int
    public var schedulerPollInterval: Duration
    public var sweepInterval: Duration
    public var testWait: Duration
    public var sender: SenderSettings
    public var alerts: AlertSettings
    /// Key of unsubscribe tokens; empty: no unsubscribe links.
    public var unsubscribeSecret: String
    public var whatsAppVerifyToken: String
    public var whatsAppAppSecret: String
    public var shutdownTimeout: Duration
    /// `dev.mode`: the sandbox's tokens and loopback provider URLs are allowed.
    public var devMode: Bool
}

/// herald-sender's settings (`sender.*`).
/// `alerts.*`: the alerter's rules and templates, and when a page view counts as closed.
public struct AlertSettings: Sendable {
    public var rulesDirectory: String
    public var templatesDirectory: String
    public var sessionTimeout: Duration
}

public struct SenderSettings: Sendable {
    public var smtpServer: String
    public var smtpSecurity: String
    public var smtpUsername: String?
    public var smtpPassword: String?
    public var smtpConnections: Int
    public var emailFrom: String
    public var emailFromName: String
    public var templatesDirectory: String
    public var maxAttempts: Int
    public var retryBase: Duration
    public var lease: Duration
    /// `herald.sends` batches handled at once (`KafkaConsumerConfiguration.batchesInFlight`).
    public var batchesInFlight: Int
    public var publicURL: String
    public var webhookSecret: String
    public var webhookTimeout: Duration
    /// Where webhooks may connect: public addresses, `sender.webhook_allowed_networks`, and loopback in dev mode.
    public var webhookAddressPolicy: AddressPolicy
    public var httpConnections: Int
    /// Per second, per channel (`email`, `webhook`); absent: no limit.
    public var channelRates: [Channel: Int]
    public var emailPerDomainPerSecond: Int
    public var marketingPerContactPerDay: Int
    public var unsubscribeSecret: String
    public var whatsAppURL: String
    public var whatsAppVersion: String
    public var whatsAppPhoneNumberId: String
    public var whatsAppToken: String
    public var twilioURL: String
    public var twilioAccountSid: String
    public var twilioAuthToken: String
    public var twilioFrom: String
    public var whatsAppRecipientInterval: Duration
    public var whatsAppTier: Int
    public var parkRecheck: Duration
    /// How long a message may be deferred by the provider (throttled, unreachable)
    /// before it ends in error; deferrals are not failed attempts.
    public var giveUpAfter: Duration
}

/// Log line format.
public enum LogFormat: String, Sendable {
    case text, json
}

/// The four worker kinds.
public enum Worker: String, Sendable, CaseIterable {
    case ingestor, scheduler, sender, alerter

    /// The executable's name: `herald-ingestor`.
    public var executable: String { "herald-\(rawValue)" }
    /// The consumer group of this worker kind.
    public var consumerGroup: String { "herald-\(rawValue)" }
}

extension Configuration {
    func senderSettings() throws -> SenderSettings {
        guard ["none", "starttls", "implicit"].contains(string("sender.smtp_security")) else {
            throw bad("sender.smtp_security", "expected none, starttls or implicit")
        }
        let from = string("sender.email_from")
        guard from.contains("@"), !from.contains(" "), !from.contains("\n") else { throw bad("sender.email_from", "expected an email address") }
        return SenderSettings(
            smtpServer: string("sender.smtp_server"), smtpSecurity: string("sender.smtp_security"),
            smtpUsername: string("sender.smtp_username").isEmpty ? nil : string("sender.smtp_username"),
            smtpPassword: string("sender.smtp_password").isEmpty ? nil : string("sender.smtp_password"),
            smtpConnections: try int("sender.smtp_connections", in: 1...256),
            emailFrom: from, emailFromName: string("sender.email_from_name"), templatesDirectory: string("sender.templates_dir"),
            maxAttempts: try int("sender.max_attempts", in: 1...100), retryBase: try duration("sender.retry_base"),
            lease: try duration("sender.lease"), batchesInFlight: try int("sender.batches_in_flight", in: 1...8), publicURL: string("sender.public_url"),
            webhookSecret: string("sender.webhook_secret"), webhookTimeout: try duration("sender.webhook_timeout"),
            webhookAddressPolicy: try webhookAddressPolicy(),
            httpConnections: try int("sender.http_connections", in: 1...1024),
            channelRates: [
                .email: try int("limits.email_per_second", in: 0...1_000_000), .webhook: try int("limits.webhook_per_second", in: 0...1_000_000),
                .whatsapp: try int("limits.whatsapp_per_second", in: 0...1_000_000), .sms: try int("limits.sms_per_second", in: 0...1_000_000),
            ].filter { $0.value > 0 },
            emailPerDomainPerSecond: try int("limits.email_per_domain_per_second", in: 0...1_000_000),
            marketingPerContactPerDay: try int("limits.marketing_per_contact_per_day", in: 0...1_000_000),
            unsubscribeSecret: string("unsubscribe.secret"),
            whatsAppURL: string("sender.whatsapp_api_url"), whatsAppVersion: string("sender.whatsapp_api_version"),
            whatsAppPhoneNumberId: string("sender.whatsapp_phone_number_id"), whatsAppToken: string("sender.whatsapp_token"),
            twilioURL: string("sender.twilio_api_url"), twilioAccountSid: string("sender.twilio_account_sid"),
            twilioAuthToken: string("sender.twilio_auth_token"), twilioFrom: string("sender.twilio_from"),
            whatsAppRecipientInterval: try duration("limits.whatsapp_recipient_interval"),
            whatsAppTier: try int("limits.whatsapp_tier", in: 0...100_000_000),
            parkRecheck: try duration("sender.park_recheck"), giveUpAfter: try duration("sender.give_up_after"))
    }

    /// `sender.webhook_allowed_networks`, each a CIDR network; in dev mode loopback too
    /// (the dev stack's and the tests' receivers listen there).
    func webhookAddressPolicy() throws -> AddressPolicy {
        var allowed: [AddressPolicy.Network] = []
        for text in list("sender.webhook_allowed_networks") {
            guard let network = AddressPolicy.Network(text) else {
                throw bad("sender.webhook_allowed_networks", "'\(text)' is not a network such as 10.20.0.0/16 or fd00::/8")
            }
            allowed.append(network)
        }
        if try bool("dev.mode") { allowed += ["127.0.0.0/8", "::1/128"].compactMap(AddressPolicy.Network.init) }
        return AddressPolicy(allowed: allowed)
    }

    /// The typed settings.
    /// - Throws: `ConfigurationError` naming the key and its bad value.
    public func settings() throws -> Settings {
        var redis = RedisConfiguration(host: string("redis.host"), port: try int("redis.port", in: 1...65535))
        redis.poolSize = try int("redis.pool_size", in: 1...1024)
        redis.connectTimeout = try duration("redis.connect_timeout")
        redis.commandTimeout = try duration("redis.command_timeout")
        guard let level = Logger.Level(rawValue: string("log.level").lowercased()) else {
            throw bad("log.level", "expected one of trace, debug, info, notice, warning, error, critical")
        }
        guard let format = LogFormat(rawValue: string("log.format").lowercased()) else {
            throw bad("log.format", "expected text or json")
        }
        guard !string("kafka.bootstrap_servers").isEmpty else { throw bad("kafka.bootstrap_servers", "must not be empty") }
        var ports: [Worker: Int] = [:]
        for w in Worker.allCases { ports[w] = try int("\(w.rawValue).metrics_port", in: 0...65535) }
        return Settings(
            kafkaBootstrapServers: string("kafka.bootstrap_servers"),
            partitions: try int("kafka.partitions", in: 1...10_000),
            replicationFactor: try int("kafka.replication_factor", in: 1...16),
            createTopics: try bool("kafka.create_topics"),
            sessionTimeout: try duration("kafka.session_timeout"),
            fetchWaitMax: try duration("kafka.fetch_wait_max"),
            messageTimeout: try duration("kafka.message_timeout"),
            kafkaMaxAttempts: try int("kafka.max_attempts", in: 1...100),
            redis: redis,
            logLevel: level,
            logFormat: format,
            metricsHost: string("metrics.host"),
            metricsPorts: ports,
            apiHost: string("api.host"),
            apiPort: try int("api.port", in: 0...65535),
            apiKeys: Set(list("api.keys")),
            adminKeys: Set(list("api.admin_keys")),
            readKeys: Set(list("api.read_keys")),
            maxBodyBytes: try int("api.max_body_bytes", in: 1024...(1 << 30)),
            maxBatchEvents: try int("api.max_batch_events", in: 1...100_000),
            dedupeWindow: try duration("ingest.dedupe_window"),
            rawBatchSize: try int("ingest.raw_batch_size", in: 1...100_000),
            schedulerPollInterval: try duration("scheduler.poll_interval"),
            sweepInterval: try duration("scheduler.sweep_interval"),
            testWait: try duration("scheduler.test_wait"),
            sender: try senderSettings(),
            alerts: AlertSettings(
                rulesDirectory: string("alerts.dir"), templatesDirectory: string("alerts.templates_dir"),
                sessionTimeout: try duration("alerts.session_timeout")),
            unsubscribeSecret: string("unsubscribe.secret"),
            whatsAppVerifyToken: string("whatsapp.verify_token"), whatsAppAppSecret: string("whatsapp.app_secret"),
            shutdownTimeout: try duration("shutdown.timeout"),
            devMode: try devMode())
    }

    /// `dev.mode`, after refusing a development value outside it: no secret or
    /// provider endpoint may have a working value by accident. A sandbox token
    /// (the dev stack's `sandbox-…` values) would let anyone who read Herald's
    /// docs forge a Twilio status callback; a provider URL on loopback would send
    /// every message to whatever listens there.
    func devMode() throws -> Bool {
        let dev = try bool("dev.mode")
        guard !dev else { return true }
        let secrets = ["sender.whatsapp_token", "sender.twilio_auth_token", "sender.twilio_account_sid", "sender.whatsapp_phone_number_id",
                       "sender.webhook_secret", "unsubscribe.secret", "whatsapp.app_secret", "whatsapp.verify_token"]
        for key in secrets where string(key).lowercased().hasPrefix("sandbox") || string(key) == "ACsandbox" {
            throw bad(key, "is the dev sandbox's value; set the real one (dev.mode is off)")
        }
        for key in ["sender.whatsapp_api_url", "sender.twilio_api_url"] where Self.isLoopbackURL(string(key)) {
            throw bad(key, "points at this machine (the dev sandbox); set the provider's URL (dev.mode is off)")
        }
        return false
    }

    /// Whether `url`'s host is a loopback name or address (`localhost`, `127.x`, `[::1]`).
    static func isLoopbackURL(_ url: String) -> Bool {
        var rest = Substring(url.lowercased())
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.split(separator: "@").last.map { h -> Substring in
            if h.hasPrefix("[") { return h.prefix { $0 != "]" }.dropFirst() }
            return h.split(separator: ":").first ?? ""
        } ?? ""
        return host == "localhost" || host.hasSuffix(".localhost") || host.hasPrefix("127.") || host == "::1" || host == "0.0.0.0" || host == "0:0:0:0:0:0:0:1"
    }
}
