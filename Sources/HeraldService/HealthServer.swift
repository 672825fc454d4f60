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

/// The per-process HTTP port: Prometheus `/metrics`, `/healthz` (the process
/// runs) and `/readyz` (every readiness check passes: Kafka and Redis reachable).
public enum HealthServer {
    /// Builds the server as a `Service`; put it first in the ServiceGroup so it
    /// answers until the very end of shutdown.
    public static func make(
        host: String, port: Int, registry: PrometheusCollectorRegistry, checks: [ReadinessCheck],
        logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        let router = Router()
        addRoutes(to: router, registry: registry, checks: checks)
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "herald"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Adds `/metrics`, `/healthz` and `/readyz` to `router`.
    public static func addRoutes(to router: Router<BasicRequestContext>, registry: PrometheusCollectorRegistry, checks: [ReadinessCheck]) {
        router.get("metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.get("healthz") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
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
