import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging

/// The typed view of `Configuration`, checked once at start-up.
public struct Settings: Sendable {
    /// `kafka.bootstrap_servers` (docs/configuration.md).
    public var kafkaBootstrapServers: String
    /// `kafka.partitions` (docs/configuration.md).
    public var partitions: Int
    /// `kafka.replication_factor` (docs/configuration.md).
    public var replicationFactor: Int
    /// `kafka.create_topics` (docs/configuration.md).
    public var createTopics: Bool
    /// `kafka.session_timeout` (docs/configuration.md).
    public var sessionTimeout: Duration
    /// `kafka.fetch_wait_max` (docs/configuration.md).
    public var fetchWaitMax: Duration
    /// `kafka.message_timeout` (docs/configuration.md).
    public var messageTimeout: Duration
    /// `kafka.max_attempts`: failures of one record (outages not counted) before it goes to herald.dlq.
    public var kafkaMaxAttempts: Int
    /// librdkafka properties every client gets: `kafka.security_protocol`, SASL
    /// and TLS settings (only those set). `WorkerRuntime` gives them to its
    /// producer, consumers and topic admin.
    public var kafkaClientProperties: [String: String] = [:]
    /// `kafka.topic_prefix`: before every topic name at the broker.
    public var kafkaTopicPrefix = ""
    /// `kafka.compression`: the producers' `compression.codec`.
    public var kafkaCompression = "none"
    /// `redis.*`: where Redis is and how Herald talks to it.
    public var redis: RedisConfiguration
    /// `log.level` (docs/configuration.md).
    public var logLevel: Logger.Level
    /// `log.format` (docs/configuration.md).
    public var logFormat: LogFormat
    /// `metrics.host` (docs/configuration.md).
    public var metricsHost: String
    /// `<worker>.metrics_port`: each worker's /metrics, /healthz and /readyz port.
    public var metricsPorts: [Worker: Int]
    /// `api.host` (docs/configuration.md).
    public var apiHost: String
    /// `api.port` (docs/configuration.md).
    public var apiPort: Int
    /// `api.keys` (docs/configuration.md).
    public var apiKeys: Set<String>
    /// `api.admin_keys` (docs/configuration.md).
    public var adminKeys: Set<String>
    /// `api.read_keys`: may read contacts, journeys and messages.
    public var readKeys: Set<String>
    /// `api.max_body_bytes` (docs/configuration.md).
    public var maxBodyBytes: Int
    /// `imports.max_bytes` (docs/configuration.md).
    public var importsMaxBytes: Int
    /// `imports.dir` (docs/configuration.md).
    public var importsDirectory: String
    /// `imports.stale_after` (docs/configuration.md).
    public var importsStaleAfter: Duration
    /// `imports.batches_ahead` (docs/configuration.md).
    public var importsBatchesAhead: Int
    /// `broadcasts.planner_lease` (docs/configuration.md).
    public var broadcastsPlannerLease: Duration
    /// `api.max_batch_events` (docs/configuration.md).
    public var maxBatchEvents: Int
    /// `ingest.dedupe_window` (docs/configuration.md).
    public var dedupeWindow: Duration
    /// `ingest.raw_batch_size` (docs/configuration.md).
    public var rawBatchSize: Int
    /// `scheduler.poll_interval` (docs/configuration.md).
    public var schedulerPollInterval: Duration
    /// `scheduler.sweep_interval` (docs/configuration.md).
    public var sweepInterval: Duration
    /// `scheduler.test_wait` (docs/configuration.md).
    public var testWait: Duration
    /// `sender.*` and the channel limits: what herald-sender needs.
    public var sender: SenderSettings
    /// `alerts.*`: what herald-alerter needs.
    public var alerts: AlertSettings
    /// Key of unsubscribe tokens; empty: no unsubscribe links.
    public var unsubscribeSecret: String
    /// `whatsapp.verify_token` (docs/configuration.md).
    public var whatsAppVerifyToken: String
    /// `whatsapp.app_secret` (docs/configuration.md).
    public var whatsAppAppSecret: String
    /// `shutdown.timeout` (docs/configuration.md).
    public var shutdownTimeout: Duration
    /// `health.stall_after` (docs/configuration.md).
    public var stallAfter: Duration = .seconds(120)
    /// `dev.mode`: the sandbox's tokens and loopback provider URLs are allowed.
    public var devMode: Bool
}

/// `alerts.*`: the alerter's rules and templates, and when a page view counts as closed.
public struct AlertSettings: Sendable {
    /// `alerts.dir` (docs/configuration.md).
    public var rulesDirectory: String
    /// `alerts.templates_dir` (docs/configuration.md).
    public var templatesDirectory: String
    /// `alerts.session_timeout` (docs/configuration.md).
    public var sessionTimeout: Duration
}

/// herald-sender's settings (`sender.*` and the channel limits).
public struct SenderSettings: Sendable {
    /// `sender.smtp_server` (docs/configuration.md).
    public var smtpServer: String
    /// `sender.smtp_security` (docs/configuration.md).
    public var smtpSecurity: String
    /// `sender.smtp_username` (docs/configuration.md).
    public var smtpUsername: String?
    /// `sender.smtp_password` (docs/configuration.md).
    public var smtpPassword: String?
    /// `sender.smtp_connections` (docs/configuration.md).
    public var smtpConnections: Int
    /// `sender.email_from` (docs/configuration.md).
    public var emailFrom: String
    /// `sender.email_from_name` (docs/configuration.md).
    public var emailFromName: String
    /// `sender.templates_dir` (docs/configuration.md).
    public var templatesDirectory: String
    /// `sender.accounts_dir` (docs/configuration.md).
    public var accountsDirectory: String
    /// `sender.max_attempts` (docs/configuration.md).
    public var maxAttempts: Int
    /// `sender.retry_base` (docs/configuration.md).
    public var retryBase: Duration
    /// `sender.lease` (docs/configuration.md).
    public var lease: Duration
    /// `herald.sends` batches handled at once (`KafkaConsumerConfiguration.batchesInFlight`).
    public var batchesInFlight: Int
    /// `sender.public_url` (docs/configuration.md).
    public var publicURL: String
    /// `sender.webhook_secret` (docs/configuration.md).
    public var webhookSecret: String
    /// `sender.webhook_timeout` (docs/configuration.md).
    public var webhookTimeout: Duration
    /// Where webhooks may connect: public addresses, `sender.webhook_allowed_networks`, and loopback in dev mode.
    public var webhookAddressPolicy: AddressPolicy
    /// `sender.http_connections` (docs/configuration.md).
    public var httpConnections: Int
    /// Per second, per channel (`email`, `webhook`); absent: no limit.
    public var channelRates: [Channel: Int]
    /// `limits.email_per_domain_per_second` (docs/configuration.md).
    public var emailPerDomainPerSecond: Int
    /// `limits.marketing_per_contact_per_day` (docs/configuration.md).
    public var marketingPerContactPerDay: Int
    /// `unsubscribe.secret` (docs/configuration.md).
    public var unsubscribeSecret: String
    /// `sender.whatsapp_api_url` (docs/configuration.md).
    public var whatsAppURL: String
    /// `sender.whatsapp_api_version` (docs/configuration.md).
    public var whatsAppVersion: String
    /// `sender.whatsapp_phone_number_id` (docs/configuration.md).
    public var whatsAppPhoneNumberId: String
    /// `sender.whatsapp_token` (docs/configuration.md).
    public var whatsAppToken: String
    /// `sender.twilio_api_url` (docs/configuration.md).
    public var twilioURL: String
    /// `sender.twilio_account_sid` (docs/configuration.md).
    public var twilioAccountSid: String
    /// `sender.twilio_auth_token` (docs/configuration.md).
    public var twilioAuthToken: String
    /// `sender.twilio_from` (docs/configuration.md).
    public var twilioFrom: String
    /// `limits.whatsapp_recipient_interval` (docs/configuration.md).
    public var whatsAppRecipientInterval: Duration
    /// `limits.whatsapp_tier` (docs/configuration.md).
    public var whatsAppTier: Int
    /// `sender.park_recheck` (docs/configuration.md).
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
        let k = ConfigurationKeys.shared
        let username = try value(k.senderSMTPUsername), password = try value(k.senderSMTPPassword)
        return SenderSettings(
            smtpServer: try value(k.senderSMTPServer), smtpSecurity: try value(k.senderSMTPSecurity),
            smtpUsername: username.isEmpty ? nil : username, smtpPassword: password.isEmpty ? nil : password,
            smtpConnections: try value(k.senderSMTPConnections),
            emailFrom: try value(k.senderEmailFrom), emailFromName: try value(k.senderEmailFromName), templatesDirectory: try value(k.senderTemplatesDir),
            accountsDirectory: try value(k.senderAccountsDir), maxAttempts: try value(k.senderMaxAttempts), retryBase: try value(k.senderRetryBase),
            lease: try value(k.senderLease), batchesInFlight: try value(k.senderBatchesInFlight), publicURL: try value(k.senderPublicURL),
            webhookSecret: try value(k.senderWebhookSecret), webhookTimeout: try value(k.senderWebhookTimeout),
            webhookAddressPolicy: try webhookAddressPolicy(),
            httpConnections: try value(k.senderHTTPConnections),
            channelRates: [
                .email: try value(k.limitsEmailPerSecond), .webhook: try value(k.limitsWebhookPerSecond),
                .whatsapp: try value(k.limitsWhatsAppPerSecond), .sms: try value(k.limitsSMSPerSecond),
            ].filter { $0.value > 0 },
            emailPerDomainPerSecond: try value(k.limitsEmailPerDomainPerSecond),
            marketingPerContactPerDay: try value(k.limitsMarketingPerContactPerDay),
            unsubscribeSecret: try value(k.unsubscribeSecret),
            whatsAppURL: try value(k.senderWhatsAppAPIURL), whatsAppVersion: try value(k.senderWhatsAppAPIVersion),
            whatsAppPhoneNumberId: try value(k.senderWhatsAppPhoneNumberId), whatsAppToken: try value(k.senderWhatsAppToken),
            twilioURL: try value(k.senderTwilioAPIURL), twilioAccountSid: try value(k.senderTwilioAccountSid),
            twilioAuthToken: try value(k.senderTwilioAuthToken), twilioFrom: try value(k.senderTwilioFrom),
            whatsAppRecipientInterval: try value(k.limitsWhatsAppRecipientInterval),
            whatsAppTier: try value(k.limitsWhatsAppTier),
            parkRecheck: try value(k.senderParkRecheck), giveUpAfter: try value(k.senderGiveUpAfter))
    }

    /// `sender.webhook_allowed_networks`; in dev mode loopback too (the dev
    /// stack's and the tests' receivers listen there).
    func webhookAddressPolicy() throws -> AddressPolicy {
        let k = ConfigurationKeys.shared
        var allowed = try value(k.senderWebhookAllowedNetworks)
        if try value(k.devMode) { allowed += ["127.0.0.0/8", "::1/128"].compactMap(AddressPolicy.Network.init) }
        return AddressPolicy(allowed: allowed)
    }

    /// The typed settings.
    /// - Throws: `ConfigurationError` naming the key and its bad value.
    public func settings() throws -> Settings {
        let k = ConfigurationKeys.shared
        var redis = RedisConfiguration(host: try value(k.redisHost), port: try value(k.redisPort))
        redis.poolSize = try value(k.redisPoolSize)
        redis.connectTimeout = try value(k.redisConnectTimeout)
        redis.commandTimeout = try value(k.redisCommandTimeout)
        redis.username = try value(k.redisUsername)
        redis.password = try value(k.redisPassword)
        redis.database = try value(k.redisDatabase)
        redis.sentinels = try value(k.redisSentinels)
        redis.sentinelMaster = try value(k.redisSentinelMaster)
        redis.sentinelPassword = try value(k.redisSentinelPassword)
        let ports: [Worker: Int] = [
            .ingestor: try value(k.ingestorMetricsPort), .scheduler: try value(k.schedulerMetricsPort),
            .sender: try value(k.senderMetricsPort), .alerter: try value(k.alerterMetricsPort),
        ]
        return Settings(
            kafkaBootstrapServers: try value(k.kafkaBootstrapServers),
            partitions: try value(k.kafkaPartitions),
            replicationFactor: try value(k.kafkaReplicationFactor),
            createTopics: try value(k.kafkaCreateTopics),
            sessionTimeout: try value(k.kafkaSessionTimeout),
            fetchWaitMax: try value(k.kafkaFetchWaitMax),
            messageTimeout: try value(k.kafkaMessageTimeout),
            kafkaMaxAttempts: try value(k.kafkaMaxAttempts), kafkaClientProperties: try kafkaClientProperties(),
            kafkaTopicPrefix: try value(k.kafkaTopicPrefix), kafkaCompression: try value(k.kafkaCompression),
            redis: redis,
            logLevel: try value(k.logLevel),
            logFormat: try value(k.logFormat),
            metricsHost: try value(k.metricsHost),
            metricsPorts: ports,
            apiHost: try value(k.apiHost),
            apiPort: try value(k.apiPort),
            apiKeys: Set(try value(k.apiKeys)),
            adminKeys: Set(try value(k.apiAdminKeys)),
            readKeys: Set(try value(k.apiReadKeys)),
            maxBodyBytes: try value(k.apiMaxBodyBytes),
            importsMaxBytes: try value(k.importsMaxBytes), importsDirectory: try value(k.importsDir), importsStaleAfter: try value(k.importsStaleAfter),
            importsBatchesAhead: try value(k.importsBatchesAhead),
            broadcastsPlannerLease: try value(k.broadcastsPlannerLease),
            maxBatchEvents: try value(k.apiMaxBatchEvents),
            dedupeWindow: try value(k.ingestDedupeWindow),
            rawBatchSize: try value(k.ingestRawBatchSize),
            schedulerPollInterval: try value(k.schedulerPollInterval),
            sweepInterval: try value(k.schedulerSweepInterval),
            testWait: try value(k.schedulerTestWait),
            sender: try senderSettings(),
            alerts: AlertSettings(
                rulesDirectory: try value(k.alertsDir), templatesDirectory: try value(k.alertsTemplatesDir),
                sessionTimeout: try value(k.alertsSessionTimeout)),
            unsubscribeSecret: try value(k.unsubscribeSecret),
            whatsAppVerifyToken: try value(k.whatsAppVerifyToken), whatsAppAppSecret: try value(k.whatsAppAppSecret),
            shutdownTimeout: try value(k.shutdownTimeout), stallAfter: try value(k.healthStallAfter),
            devMode: try devMode())
    }

    /// The security settings as librdkafka names them; empty values are left
    /// out, so librdkafka's defaults stand (the system's CA certificates).
    func kafkaClientProperties() throws -> [String: String] {
        let k = ConfigurationKeys.shared
        let p = try value(k.kafkaSecurityProtocol)
        let mechanism = try value(k.kafkaSASLMechanism)  // checked whatever the protocol
        var out = ["security.protocol": p]
        if p.hasPrefix("sasl") {
            out["sasl.mechanisms"] = mechanism
            for (name, setting) in [("sasl.username", k.kafkaSASLUsername), ("sasl.password", k.kafkaSASLPassword)] {
                let v = try value(setting)
                guard !v.isEmpty else { throw bad(setting.key.name, "is required when kafka.security_protocol is \(p)") }
                out[name] = v
            }
        }
        let tls = [
            ("ssl.ca.location", k.kafkaSSLCALocation), ("ssl.certificate.location", k.kafkaSSLCertificateLocation),
            ("ssl.key.location", k.kafkaSSLKeyLocation), ("ssl.key.password", k.kafkaSSLKeyPassword),
        ]
        for (name, setting) in tls {
            let v = try value(setting)
            if !v.isEmpty { out[name] = v }
        }
        return out
    }

    /// `dev.mode`, after refusing a development value outside it: no secret or
    /// provider endpoint may have a working value by accident. A sandbox token
    /// (the dev stack's `sandbox-…` values) would let anyone who read Herald's
    /// docs forge a Twilio status callback; a provider URL on loopback would send
    /// every message to whatever listens there.
    func devMode() throws -> Bool {
        let k = ConfigurationKeys.shared
        guard try !value(k.devMode) else { return true }
        let credentials = [
            k.senderWhatsAppToken, k.senderTwilioAuthToken, k.senderTwilioAccountSid, k.senderWhatsAppPhoneNumberId,
            k.senderWebhookSecret, k.unsubscribeSecret, k.whatsAppAppSecret, k.whatsAppVerifyToken,
        ]
        for setting in credentials {
            let text = try value(setting)
            if text.lowercased().hasPrefix("sandbox") || text == "ACsandbox" {
                throw bad(setting.key.name, "is the dev sandbox's value; set the real one (dev.mode is off)")
            }
        }
        for setting in [k.senderWhatsAppAPIURL, k.senderTwilioAPIURL] where Self.isLoopbackURL(try value(setting)) {
            throw bad(setting.key.name, "points at this machine (the dev sandbox); set the provider's URL (dev.mode is off)")
        }
        return false
    }

    /// Whether `url`'s host is a loopback name or address (`localhost`, `127.x`, `[::1]`).
    static func isLoopbackURL(_ url: String) -> Bool {
        var rest = Substring(url.lowercased())
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host =
            authority.split(separator: "@").last.map { h -> Substring in
                if h.hasPrefix("[") { return h.prefix { $0 != "]" }.dropFirst() }
                return h.split(separator: ":").first ?? ""
            } ?? ""
        return host == "localhost" || host.hasSuffix(".localhost") || host.hasPrefix("127.") || host == "::1" || host == "0.0.0.0" || host == "0:0:0:0:0:0:0:1"
    }
}
