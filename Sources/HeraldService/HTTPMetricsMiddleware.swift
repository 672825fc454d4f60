import Hummingbird
import Prometheus
import Synchronization

/// Counts the API's requests by route, method and status, and times them, into
/// the worker's registry: `herald_http_requests_total{route,method,status}` and
/// `herald_http_request_duration_seconds{route,method}`.
///
/// Written here rather than Hummingbird's `MetricsMiddleware`: that one reports
/// through swift-metrics, whose Prometheus bridge names the counters without
/// `_total` and without help text, which `promtool check metrics` refuses. The
/// route is the matched pattern (`/v1/contacts/{id}`), never the path, so the
/// labels stay bounded whatever clients send; an unmatched request is `unknown`.
public struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let registry: PrometheusCollectorRegistry
    let requests: CounterFamily
    let timers = Timers()

    /// Metrics into `registry`.
    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        requests = CounterFamily(
            registry, name: "herald_http_requests", unit: "total", help: "API requests by route pattern, method and status", fixed: [],
            labels: ["route", "method", "status"])
    }

    /// Times the request and counts its answer (a thrown error by its status, else 500).
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        // A method outside HTTP's own is `other`: a client must not be able to mint label values.
        let method = httpMethods.contains(request.method.rawValue) ? request.method.rawValue : "other"
        do {
            let response = try await next(request, context)
            record(route: context.endpointPath ?? "unknown", method: method, status: response.status.code, since: started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(route: context.endpointPath ?? "unknown", method: method, status: status, since: started)
            throw error
        }
    }

    func record(route: String, method: String, status: Int, since started: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - started
        requests(route, method, String(status)).increment()
        timers.made.withLock { t in
            let key = "\(route) \(method)"
            if let existing = t[key] { return existing }
            let timer = registry.makeDurationHistogram(
                descriptor: .init(metricName: "herald_http_request_duration", unitName: "seconds", helpText: "API request time by route pattern and method"),
                labels: [("route", route), ("method", method)],
                buckets: [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(500), .seconds(2), .seconds(10)])
            t[key] = timer
            return timer
        }.record(elapsed)
    }
}

/// HTTP's own methods: the label values `method` may take.
let httpMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

/// The request timers made so far, by route and method (a struct cannot hold a `Mutex`).
final class Timers: Sendable {
    let made = Mutex<[String: DurationHistogram]>([:])
}
