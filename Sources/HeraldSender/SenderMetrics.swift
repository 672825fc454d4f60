import Prometheus
import Synchronization

/// The sender's metrics: outcomes by channel and state, provider latency.
final class SenderMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let outcomes = Mutex<[String: Counter]>([:])
    private let latencies = Mutex<[String: DurationHistogram]>([:])

    private let handOff: DurationHistogram

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
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

    func outcome(_ channel: String, _ state: String) {
        outcomes.withLock { o in
            let key = "\(channel)\u{1F}\(state)"
            if o[key] == nil {
                o[key] = registry.makeCounter(
                    descriptor: .init(metricName: "herald_sender_messages", unitName: "total", helpText: "Messages by channel and the state they reached"),
                    labels: [("worker", "sender"), ("channel", channel), ("state", state)])
            }
            return o[key]!
        }.increment()
    }

    func providerLatency(_ channel: String, _ d: Duration) {
        latencies.withLock { l in
            if l[channel] == nil {
                l[channel] = registry.makeDurationHistogram(
                    descriptor: .init(metricName: "herald_sender_provider_latency", unitName: "seconds", helpText: "Time of one provider call"),
                    labels: [("worker", "sender"), ("channel", channel)],
                    buckets: [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30)])
            }
            return l[channel]!
        }.recordNanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }
}
