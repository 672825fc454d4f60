import HeraldCore
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// A dependency `/readyz` checks: a name and a probe.
public struct ReadinessCheck: Sendable {
    /// The dependency's name, shown in `/readyz`'s answer.
    public let name: String
    /// True when the dependency answers.
    public let probe: @Sendable () async -> Bool

    /// A check of `name` by `probe`.
    public init(name: String, probe: @escaping @Sendable () async -> Bool) {
        self.name = name
        self.probe = probe
    }
}

/// What `/healthz` checks: that every watched loop went round lately.
public struct Liveness: Sendable {
    /// The process's loops.
    public let heartbeats: Heartbeats
    /// How long a loop may go without a beat before the process counts as stuck (`health.stall_after`).
    public let stallAfter: Duration

    /// Liveness from these loops and this bound.
    public init(heartbeats: Heartbeats, stallAfter: Duration) {
        self.heartbeats = heartbeats
        self.stallAfter = stallAfter
    }
}

/// The per-process HTTP port: Prometheus `/metrics`, `/healthz` (liveness:
/// every consumer loop and poller went round within `health.stall_after`; a
/// process whose loop is stuck answers 503 and is restarted by its
/// orchestrator) and `/readyz` (every readiness check passes: Kafka and Redis
/// reachable). A dependency outage fails readiness, not liveness: a restart
/// would not bring Redis back, and the loops keep beating while they wait.
public enum HealthServer {
    /// Builds the server as a `Service`; put it first in the ServiceGroup so it
    /// answers until the very end of shutdown.
    public static func make(
        host: String, port: Int, registry: PrometheusCollectorRegistry, checks: [ReadinessCheck], liveness: Liveness? = nil,
        logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        let router = Router()
        addRoutes(to: router, registry: registry, checks: checks, liveness: liveness)
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "herald"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Adds `/metrics`, `/healthz` and `/readyz` to `router`.
    public static func addRoutes(
        to router: Router<BasicRequestContext>, registry: PrometheusCollectorRegistry, checks: [ReadinessCheck], liveness: Liveness? = nil
    ) {
        router.get("metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.get("healthz") { _, _ -> Response in
            let ages = liveness?.heartbeats.ages ?? []
            let stalled = ages.filter { $0.age >= liveness?.stallAfter ?? .seconds(Int64.max) }
            // Each loop's milliseconds since it last went round, so an operator sees which one is stuck.
            var loops: [String: JSONValue] = [:]
            for (name, age) in ages { loops[name] = .int(age.milliseconds) }
            let body: JSONValue = ["status": .string(stalled.isEmpty ? "ok" : "stalled"), "loops_ms_since_progress": .object(loops)]
            return Response(
                status: stalled.isEmpty ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: body.serialized())))
        }
        router.get("readyz") { _, _ -> Response in
            var results: [(String, Bool)] = []
            await withTaskGroup(of: (String, Bool).self) { group in
                for check in checks { group.addTask { (check.name, await check.probe()) } }
                for await r in group { results.append(r) }
            }
            let ready = results.allSatisfy(\.1)
            let body =
                "{\"status\":\"\(ready ? "ready" : "not ready")\",\"checks\":{"
                + results.sorted { $0.0 < $1.0 }.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}}"
            return Response(
                status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
    }
}
