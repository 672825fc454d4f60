import Prometheus
import Synchronization

/// The scheduler's metrics.
final class SchedulerMetrics: Sendable {
    let lateness: ValueHistogram
    /// Stored journeys left out because they could not be read (damaged in Redis).
    let unreadableJourneys: Counter
    private let registry: PrometheusCollectorRegistry
    private let transitions = Mutex<[String: Counter]>([:])
    private let pending = Mutex<[Int: Gauge]>([:])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        lateness = registry.makeValueHistogram(
            descriptor: .init(metricName: "herald_scheduler_wakeup_lateness", unitName: "seconds", helpText: "How late wake-ups fire after their due time"),
            labels: [("worker", "scheduler")], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30])
        unreadableJourneys = registry.makeCounter(
            descriptor: .init(
                metricName: "herald_scheduler_unreadable_journeys", unitName: "total",
                helpText: "Stored journeys the scheduler could not read and left out (their wake-ups end as orphans)"),
            labels: [("worker", "scheduler")])
    }

    func transition(campaign: String, step: String) {
        let key = "\(campaign)\u{1F}\(step)"
        transitions.withLock { t in
            if t[key] == nil {
                t[key] = registry.makeCounter(
                    descriptor: .init(
                        metricName: "herald_scheduler_transitions", unitName: "total", helpText: "Journey transitions, by campaign and the step they ended in"),
                    labels: [("worker", "scheduler"), ("campaign", campaign), ("step", step)])
            }
            return t[key]!
        }.increment()
    }

    func pendingWakeUps(shard: Int, _ value: Int) {
        pending.withLock { p in
            if p[shard] == nil {
                // The unit is `pending`, not `count`: `_count` is a histogram's, and Prometheus' own parser says so (`promtool check metrics`).
                p[shard] = registry.makeGauge(
                    descriptor: .init(metricName: "herald_scheduler_wakeups", unitName: "pending", helpText: "Waiting journeys per owned shard"),
                    labels: [("worker", "scheduler"), ("shard", String(shard))])
            }
            return p[shard]!
        }.set(Double(value))
    }

    /// Drops the gauges of shards this process no longer owns: the new owner
    /// reports them, and a value left here would count them twice across pods.
    func forgetShards(except owned: Set<Int>) {
        let gone = pending.withLock { p in
            let stale = p.filter { !owned.contains($0.key) }
            for shard in stale.keys { p[shard] = nil }
            return Array(stale.values)
        }
        for gauge in gone { registry.unregisterGauge(gauge) }
    }
}
