import HeraldChannels
import HeraldService

/// Starts a Herald worker of the bench's own (`bench send --senders/--preload`,
/// `bench alerts --preload`) on the dev stack, logging to `.herald/dev/logs/<log>.log`,
/// and waits until its `/readyz` on `metricsPort` answers 200.
/// - Parameter cpu: run it on this CPU only (`taskset -c`).
func startBenchWorker(
    _ executable: String, log: String, metricsPort: Int, environment: [String: String], cpu: Int? = nil, client: HTTPClient
) async throws -> ChildProcess {
    let path = "\(executableDirectory())/\(executable)"
    let child = try ChildProcess(
        executable: cpu == nil ? path : "/usr/bin/taskset",
        arguments: cpu.map { ["-c", String($0), path] } ?? [],
        // Bench workers talk to the bench receiver on loopback: dev mode allows it.
        environment: environment.merging(["HERALD_DEV_MODE": "true"]) { given, _ in given },
        output: .file("\(DevPaths.logs)/\(log).log"))
    for _ in 0..<300 {
        if let code = child.poll() { throw CLIError("\(log) exited with \(code); see \(DevPaths.logs)/\(log).log") }
        if (try? await client.get("http://127.0.0.1:\(metricsPort)/readyz", timeout: .seconds(2)))?.status == 200 { return child }
        try await Task.sleep(for: .milliseconds(100))
    }
    _ = await child.stop()
    throw CLIError("\(log) was not ready within 30 s; see \(DevPaths.logs)/\(log).log")
}
