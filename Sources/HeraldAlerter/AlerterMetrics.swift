import Prometheus

/// The alerter's counters: events evaluated, and visits by what became of them.
struct AlerterMetrics: Sendable {
    let evaluated: Counter
    let matched: Counter
    let alerted: Counter
    let suppressed: Counter
    let tooShort: Counter

    init(registry: PrometheusCollectorRegistry) {
        func counter(_ outcome: String) -> Counter {
            registry.makeCounter(
                descriptor: .init(
                    metricName: "herald_alerter_visits", unitName: "total",
                    helpText: "Rule matches by outcome: matched, alerted, suppressed (frequency cap), too_short"),
                labels: [("worker", "alerter"), ("outcome", outcome)])
        }
        evaluated = registry.makeCounter(
            descriptor: .init(metricName: "herald_alerter_events_evaluated", unitName: "total", helpText: "Events evaluated against the alert rules"),
            labels: [("worker", "alerter")])
        matched = counter("matched")
        alerted = counter("alerted")
        suppressed = counter("suppressed")
        tooShort = counter("too_short")
    }
}
