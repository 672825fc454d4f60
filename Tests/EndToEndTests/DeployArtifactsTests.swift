import Foundation
import HeraldDevTools
import HeraldTestSupport
import Testing

/// deploy/ as shipped, checked by `scripts/check-deploy` with the tools that run
/// here (check-jsonschema, kubernetes-validate, promtool); and broken copies of
/// it, each of which the check must refuse with the reason.
@Suite("Deployment artifacts (compose, Kubernetes, alert rules)", .serialized, .timeLimit(.minutes(4)))
struct DeployArtifactsTests {
    /// Runs the check on `directory`; its exit status and output.
    func check(_ directory: String) async throws -> (status: Int32, output: String) {
        let log = try temporaryDirectory("check-deploy") + "/out.txt"
        let process = try ChildProcess(
            executable: "/usr/bin/env", arguments: ["python3", "\(BuiltProducts.packageRoot)/scripts/check-deploy", directory],
            environment: ProcessInfo.processInfo.environment, output: .file(log))
        let status = await process.wait(timeout: .seconds(120)) ?? -1
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    /// A copy of deploy/ with `file`'s `old` replaced by `new`.
    func broken(_ file: String, _ old: String, _ new: String) throws -> String {
        let copy = try temporaryDirectory("deploy") + "/deploy"
        try FileManager.default.copyItem(atPath: "\(BuiltProducts.packageRoot)/deploy", toPath: copy)
        let path = "\(copy)/\(file)"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.contains(old), "\(file) no longer holds \(old)")
        try text.replacingOccurrences(of: old, with: new).write(toFile: path, atomically: true, encoding: .utf8)
        return copy
    }

    @Test("deploy/ as shipped passes every tool and every promise")
    func shipped() async throws {
        let (status, output) = try await check("\(BuiltProducts.packageRoot)/deploy")
        #expect(status == 0, "\(output)")
        #expect(output.contains("0 problem(s)"))
    }

    @Test(
        "each broken copy is refused, naming what is wrong",
        arguments: [
            ("compose.yaml", #""--appendonly", "yes", "#, "", "redis: runs without --appendonly yes"),
            ("compose.yaml", "stop_grace_period: 30s", "stop_grace_period: 10s", "stop_grace_period is not above shutdown.timeout"),
            ("compose.yaml", "      smtp: {condition: service_healthy}\n", "      smtp: {condition: service_healthy}\n    scale_to: 3\n", "check-jsonschema"),
            ("compose.yaml", "    HERALD_API_KEYS_FILE: /run/secrets/api_keys\n", "    HERALD_API_KEYS: abc\n", "HERALD_API_KEYS is set inline"),
            ("kubernetes/secret.yaml", #"api-keys: """#, #"api-keys: "changeme""#, "holds a value"),
            ("kubernetes/autoscalers.yaml", "maxReplicas: 24", "maxReplicas: 48", "past 24 replicas"),
            ("kubernetes/sender.yaml", "httpGet: {path: /healthz, port: metrics}", "httpGet: {path: /metrics, port: metrics}", "liveness is not /healthz"),
            ("kubernetes/sender.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: true\n            privileged: maybe", "kubernetes-validate"),
            ("kubernetes/alerter.yaml", "runAsUser: 10001", "runAsUser: 0", "numeric non-root user"),
            ("prometheus/herald-rules.yaml", "expr: up{job=~\"herald.*\"} == 0", "expr: up{job=~\"herald.*\"} ==", "promtool"),
            ("prometheus/herald-rules.yaml", "> 0.05", "> 0.5", "herald-rules.test.yaml"),
            ("prometheus/herald-rules.yaml", "herald_sender_account_stops_total", "herald_sender_account_stopped_total", "not a metric Herald exports"),
            ("grafana/herald-dashboard.json", "herald_dlq_records_total", "herald_dlq_total", "not a metric Herald exports"),
            (
                "grafana/herald-dashboard.json", "sum(herald_scheduler_wakeups_pending)", "sum(herald_scheduler_wakeups_pending",
                "grafana/herald-dashboard.json: promtool"
            ),
        ])
    func refused(file: String, old: String, new: String, reason: String) async throws {
        let (status, output) = try await check(try broken(file, old, new))
        #expect(status == 1, "\(output)")
        #expect(output.contains(reason), "\(output)")
    }
}
