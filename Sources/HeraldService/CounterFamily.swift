import Prometheus
import Synchronization

/// One counter per value of a label that is known only at run time (a Redis
/// error kind, a topic), each made on first use with the family's fixed labels.
/// Bounded by the caller: only a few values ever occur.
final class CounterFamily: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let name: String, unit: String, help: String
    private let fixed: [(String, String)]
    private let label: String
    private let made = Mutex<[String: Counter]>([:])

    init(_ registry: PrometheusCollectorRegistry, name: String, unit: String, help: String, fixed: [(String, String)], label: String) {
        self.registry = registry
        (self.name, self.unit, self.help) = (name, unit, help)
        self.fixed = fixed
        self.label = label
    }

    /// The counter for `value`.
    func callAsFunction(_ value: String) -> Counter {
        made.withLock { m in
            if let existing = m[value] { return existing }
            let counter = registry.makeCounter(
                descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help), labels: fixed + [(label, value)])
            m[value] = counter
            return counter
        }
    }
}
