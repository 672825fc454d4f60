import HeraldChannels
import HeraldCore
import Prometheus
import Synchronization

/// The sender's metrics: outcomes by channel, account and state, provider
/// latency, the retry backlog of its shards, WhatsApp quota left.
final class SenderMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    /// Per channel and account, what it sends from (the `account` label): the SMTP
    /// server, the WhatsApp phone number id, the Twilio number; "" for webhooks.
    private let accounts: ProviderRegistry
    private let outcomes = Mutex<[String: Counter]>([:])
    private let latencies = Mutex<[Channel: DurationHistogram]>([:])
    private let backlog: Gauge
    /// Per account with a limited tier: (remaining, limit).
    private let quotas = Mutex<[String: (remaining: Gauge, limit: Gauge)]>([:])

    private let handOff: DurationHistogram

    init(registry: PrometheusCollectorRegistry, accounts: ProviderRegistry) {
        self.registry = registry
        self.accounts = accounts
        backlog = registry.makeGauge(
            descriptor: .init(
                metricName: "herald_sender_retry_backlog", unitName: "messages",
                helpText: "Messages of this sender's shards waiting to be looked at again: a retry, a turn at a limit, or a lease running out"),
            labels: [("worker", "sender")])
        handOff = registry.makeDurationHistogram(
            descriptor: .init(
                metricName: "herald_alert_latency", unitName: "seconds",
                helpText: "Sales alerts: from the page view being accepted (or its time on the page decided) to the email handed to SMTP"),
            labels: [("worker", "sender")],
            buckets: [
                .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(75), .milliseconds(100), .milliseconds(150), .milliseconds(200),
                .milliseconds(300), .milliseconds(500), .milliseconds(750), .seconds(1), .seconds(2), .seconds(5), .seconds(30),
            ])
    }

    /// A message that reports something (`origin_ms`) was handed over: how long after it happened.
    func handOffLatency(milliseconds: Int64) {
        handOff.recordNanoseconds(max(0, milliseconds) * 1_000_000)
    }

    func outcome(_ request: SendRequest, _ state: String) {
        let channel = request.channel
        outcomes.withLock { o in
            let key = "\(channel.rawValue)\u{1F}\(request.account)\u{1F}\(state)"
            if o[key] == nil {
                o[key] = registry.makeCounter(
                    descriptor: .init(metricName: "herald_sender_messages", unitName: "total", helpText: "Messages by channel and the state they reached"),
                    labels: [("worker", "sender"), ("channel", channel.rawValue), ("account", accounts.label(request)), ("state", state)])
            }
            return o[key]!
        }.increment()
    }

    private let stops = Mutex<[String: Counter]>([:])

    /// The provider stopped an account (WhatsApp 131048): alert on any increase.
    func accountStopped(_ key: String) {
        stops.withLock { s in
            if s[key] == nil {
                s[key] = registry.makeCounter(
                    descriptor: .init(
                        metricName: "herald_sender_account_stops", unitName: "total",
                        helpText: "Sending accounts stopped at the provider's word (WhatsApp 131048, spam rate limit); resume with heraldctl limits resume"),
                    labels: [("worker", "sender"), ("account", key)])
            }
            return s[key]!
        }.increment()
    }

    func providerLatency(_ channel: Channel, _ d: Duration) {
        latencies.withLock { l in
            if l[channel] == nil {
                l[channel] = registry.makeDurationHistogram(
                    descriptor: .init(metricName: "herald_sender_provider_latency", unitName: "seconds", helpText: "Time of one provider call"),
                    labels: [("worker", "sender"), ("channel", channel.rawValue)],
                    buckets: [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30)])
            }
            return l[channel]!
        }.recordNanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }

    func retryBacklog(_ messages: Int) { backlog.set(Int64(messages)) }

    /// A WhatsApp account's messaging limit: `limit` unique recipients per 24 h
    /// (0: unlimited — no quota gauges then), `used` of them in the last 24 h.
    func quota(account: String, limit: Int, used: Int) {
        quotas.withLock { q in
            if limit <= 0 {
                if let gauges = q.removeValue(forKey: account) {
                    registry.unregisterGauge(gauges.remaining)
                    registry.unregisterGauge(gauges.limit)
                }
                return
            }
            if q[account] == nil {
                let labels = [("worker", "sender"), ("account", account)]
                q[account] = (
                    registry.makeGauge(
                        descriptor: .init(
                            metricName: "herald_sender_quota_remaining", unitName: "recipients",
                            helpText: "New recipients the WhatsApp tier allows in the rolling 24 hours"),
                        labels: labels),
                    registry.makeGauge(
                        descriptor: .init(
                            metricName: "herald_sender_quota_limit", unitName: "recipients",
                            helpText: "The WhatsApp tier: unique recipients per rolling 24 hours"),
                        labels: labels)
                )
            }
            q[account]?.remaining.set(Int64(max(0, limit - used)))
            q[account]?.limit.set(Int64(limit))
        }
    }
}
