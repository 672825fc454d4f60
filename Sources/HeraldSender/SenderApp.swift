import Foundation
import HeraldChannels
import HeraldCore
import HeraldKafka
import HeraldRedis
import HeraldService
import Prometheus
import ServiceLifecycle

/// Builds `herald-sender`'s services: the `herald.sends` consumer and the retry poller.
public enum SenderApp {
    /// Waves of a channel with `connections`: up to 4 lanes (waves at once), each
    /// wave a quarter of the connections, rounded down (so never more calls in
    /// flight than connections). (Tried for email: a lane per connection,
    /// one message per wave. With a slow SMTP server it was worse — 38 ms per
    /// hand-off instead of 17 ms with 32 connections, p99 30 s instead of 1–2 s at
    /// 1,000 alerts/s — as every connection kept the server busy at once.)
    static func lanes(_ connections: Int) -> (size: Int, lane: SlotPool) {
        let lanes = min(4, connections)
        return (connections / lanes, SlotPool(count: lanes))
    }

    /// The registry: each channel's default account from the settings, and one
    /// entry per account file (`sender.accounts_dir`). Another channel is one more
    /// conforming type in HeraldChannels and one more registration here; another
    /// WhatsApp number is one more file.
    static func registry(_ s: SenderSettings, templates: MustacheTemplates, from: EmailAddress, runtime: WorkerRuntime) throws -> ProviderRegistry {
        let rates = s.channelRates
        var r = ProviderRegistry()
        r.register(
            EmailProvider(
                templates: templates, from: from, publicURL: s.publicURL, unsubscribeSecret: s.unsubscribeSecret, perDomainPerSecond: s.emailPerDomainPerSecond),
            for: .email, perSecond: rates[.email], label: s.smtpServer)
        r.register(
            WebhookProvider(secret: s.webhookSecret, timeout: s.webhookTimeout, addressPolicy: s.webhookAddressPolicy), for: .webhook,
            perSecond: rates[.webhook], label: "")
        r.register(
            TwilioSMSProvider(
                apiURL: s.twilioURL, accountSid: s.twilioAccountSid, authToken: s.twilioAuthToken, from: s.twilioFrom, publicURL: s.publicURL,
                templates: templates, timeout: s.webhookTimeout),
            for: .sms, perSecond: rates[.sms], label: s.twilioFrom)
        let whatsAppTemplates = try WhatsAppTemplates.load(directory: s.templatesDirectory)
        let catalog = WhatsAppCatalog(redis: runtime.redis)
        func whatsApp(phoneNumberId: String, token: String, portfolio: String = "") -> WhatsAppProvider {
            WhatsAppProvider(
                apiURL: s.whatsAppURL, apiVersion: s.whatsAppVersion, phoneNumberId: phoneNumberId, token: token, templates: whatsAppTemplates,
                catalog: catalog, recipientInterval: s.whatsAppRecipientInterval, tier: s.whatsAppTier, timeout: s.webhookTimeout, portfolio: portfolio)
        }
        r.register(
            whatsApp(phoneNumberId: s.whatsAppPhoneNumberId, token: s.whatsAppToken), for: .whatsapp, perSecond: rates[.whatsapp],
            label: s.whatsAppPhoneNumberId)
        for a in try WhatsAppAccount.load(directory: s.accountsDirectory, environment: ProcessInfo.processInfo.environment) {
            r.register(
                whatsApp(phoneNumberId: a.phoneNumberId, token: a.token, portfolio: a.portfolio), for: .whatsapp, account: a.name,
                perSecond: a.perSecond, label: a.phoneNumberId)
            runtime.logger.info("sender sends WhatsApp from \(a)")
        }
        return r
    }

    /// The sender's services: the `herald.sends` consumer and the retry poller.
    public static func services(runtime: WorkerRuntime) async throws -> [any Service] {
        let s = runtime.settings.sender
        let partitions = runtime.settings.partitions
        let messages = MessageStore(redis: runtime.redis, partitions: partitions)
        let httpLanes = lanes(s.httpConnections)
        let from = try EmailAddress(s.emailFrom, name: s.emailFromName.isEmpty ? nil : s.emailFromName)
        try Configuration.requireDirectory(s.templatesDirectory, key: "sender.templates_dir")
        let templates = try await MustacheTemplates.load(directory: s.templatesDirectory)
        let providers = try registry(s, templates: templates, from: from, runtime: runtime)
        let processor = SendProcessor(
            messages: messages, contacts: ContactStore(redis: runtime.redis, partitions: partitions),
            catalog: CampaignCatalog(store: CampaignStore(redis: runtime.redis)), providers: providers,
            smtp: SMTPClient(
                configuration: SMTPConfiguration(
                    server: s.smtpServer, security: SMTPSecurity(rawValue: s.smtpSecurity) ?? .none, username: s.smtpUsername, password: s.smtpPassword),
                concurrency: s.smtpConnections),
            http: HTTPClient(concurrency: s.httpConnections), limiter: RateLimiter(redis: runtime.redis),
            // Webhooks, WhatsApp and SMS share one set of lanes, as they share the
            // HTTP connections: claims in flight never exceed the connections, so a
            // crash leaves no claimed message waiting in curl's queue (unsent, yet
            // ending `outcome unknown`). Lanes per channel let a mixed load claim up
            // to three times the connections (test `killMidCallProviders`).
            waves: [.email: lanes(s.smtpConnections), .webhook: httpLanes, .whatsapp: httpLanes, .sms: httpLanes],
            settings: s,
            metrics: SenderMetrics(registry: runtime.metrics, accounts: providers),
            dueTimes: DueTimes(), logger: runtime.logger)
        let logger = runtime.logger
        let deadLettered = runtime.metrics.makeCounter(
            descriptor: .init(
                metricName: "herald_sender_dead_lettered", unitName: "total", helpText: "herald.sends records that are not send requests, moved to herald.dlq"))
        // Two batches at once (`sender.batches_in_flight`): the next one is read,
        // parsed and planned (a fifth of a batch's time, with Redis and the
        // provider idle) while the last one's waves are still out. Order across
        // batches does not matter here: every message is claimed in Redis
        // before its provider call.
        let consumer = try runtime.consumer(topics: [Topics.sends], maxBatchSize: 2000, batchesInFlight: s.batchesInFlight) { batch in
            // A record that is not a send request can never be sent: it goes to
            // herald.dlq with the reason (never silently dropped), and the
            // partition moves on.
            var requests: [SendRequest] = []
            // Each request's text as it came: stored with its claim, not serialized again.
            var texts: [String] = []
            var dead: [(record: KafkaRecord, reason: DeadLetterQueue.Reason, field: String, message: String)] = []
            for record in batch {
                do {
                    requests.append(try SendRequest(decoding: record.value))
                    texts.append(String(decoding: record.value, as: UTF8.self))
                } catch let error as SendRequestError {
                    dead.append((record, .invalid, error.field, error.description))
                } catch {
                    dead.append((record, .undecodable, "", "not valid JSON: \(error)"))
                }
            }
            if !dead.isEmpty {
                try await runtime.deadLetters.send(dead)  // unacknowledged: the batch is retried
                deadLettered.increment(by: Int64(dead.count))
                logger.error("sender moved records that are not send requests to herald.dlq", metadata: ["herald.count": "\(dead.count)"])
            }
            // A failure (Redis down) fails the batch, which is retried; finished
            // messages are skipped the second time by their state.
            try await processor.process(requests, texts: texts)
        }
        let retries = RetryPoller(
            consumer: consumer, messages: messages, processor: processor, interval: .milliseconds(250), logger: logger,
            heartbeat: runtime.heartbeats.make("retry poller"))
        return [consumer, retries]
    }
}
