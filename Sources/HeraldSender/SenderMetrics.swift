import Prometheus
import Synchronization

/// The sender's metrics: outcomes by channel and state, provider latency.
final class SenderMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let outcomes = Mutex<[String: Counter]>([:])
    private let latencies = Mutex<[String: DurationHistogram]>([:])

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

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
