import Prometheus
import Synchronization

/// One counter per combination of label values known only at run time (a Redis
/// error kind, a topic; an API route, method and status), each made on first
/// use with the family's fixed labels. Bounded by the caller: only a few
/// values of each label ever occur.
final class CounterFamily: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let name: String, unit: String, help: String
    private let fixed: [(String, String)]
    private let labels: [String]
    private let made = Mutex<[[String]: Counter]>([:])

    init(_ registry: PrometheusCollectorRegistry, name: String, unit: String, help: String, fixed: [(String, String)], labels: [String]) {
        self.registry = registry
        (self.name, self.unit, self.help) = (name, unit, help)
        self.fixed = fixed
        self.labels = labels
    }

    /// The counter for these values of `labels`, in order.
    func callAsFunction(_ values: String...) -> Counter {
        made.withLock { m in
            if let existing = m[values] { return existing }
            let counter = registry.makeCounter(
                descriptor: MetricNameDescriptor(metricName: name, unitName: unit, helpText: help), labels: fixed + Array(zip(labels, values)))
            m[values] = counter
            return counter
        }
    }
}
