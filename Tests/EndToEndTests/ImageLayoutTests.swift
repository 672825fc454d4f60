import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldService
import HeraldTestSupport
import Testing

/// The image's runtime stage as the Dockerfile describes it.
struct ImageLayout {
    /// Where `COPY --from=build` puts the executables.
    var binaries = ""
    /// `COPY config <dir>`: where the configuration directory goes.
    var configuration = ""
    /// `ENV HERALD_CONFIG=…`.
    var configFile = ""
    /// `WORKDIR`.
    var workingDirectory = ""
    /// `USER uid:gid`, numeric.
    var user: (uid: Int, gid: Int) = (0, 0)

    /// Reads the last stage of `dockerfile` (continuation lines joined).
    init(dockerfile: String) throws {
        let text = dockerfile.replacingOccurrences(of: "\\\n", with: " ")
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.hasPrefix("#") }
        let stage = lines.lastIndex { $0.hasPrefix("FROM ") }.map { Array(lines[$0...]) } ?? []
        for line in stage {
            let words = line.split(separator: " ").map(String.init)
            switch words.first {
            case "COPY" where words.contains { $0.hasPrefix("--from=") }: binaries = words.last ?? ""
            case "COPY" where words.count == 3 && words[1] == "config": configuration = words[2]
            case "ENV" where words.count == 2 && words[1].hasPrefix("HERALD_CONFIG="): configFile = String(words[1].dropFirst("HERALD_CONFIG=".count))
            case "WORKDIR": workingDirectory = words.count == 2 ? words[1] : ""
            case "USER":
                let ids = (words.count == 2 ? words[1] : "").split(separator: ":").compactMap { Int($0) }
                if ids.count == 2 { user = (ids[0], ids[1]) }
            default: break
            }
        }
    }
}

/// No Docker engine runs here, so the image is reproduced: the executables in
/// the Dockerfile's binary directory, the configuration copied where it copies
/// it and named by its `HERALD_CONFIG`, each worker started from its `WORKDIR`
/// as its numeric `USER`, with no path set outside the shipped file.
@Suite("The image's runtime layout (Dockerfile)", .serialized, .timeLimit(.minutes(4)))
struct ImageLayoutTests {
    let client = HTTPClient(concurrency: 2)

    @Test("the Dockerfile's runtime stage: a numeric non-root user, working directory /, the configuration beside its templates, the toolchain CI uses")
    func dockerfile() throws {
        let text = try String(contentsOfFile: "\(BuiltProducts.packageRoot)/Dockerfile", encoding: .utf8)
        let layout = try ImageLayout(dockerfile: text)
        #expect(layout.user.uid >= 1000 && layout.user.gid >= 1000, "USER must be numeric and not root")
        #expect(layout.workingDirectory == "/")
        #expect(layout.configFile == "\(layout.configuration)/herald.yaml")
        #expect(layout.binaries == "/usr/local/bin/")
        #expect(text.contains("FROM swift:6.3-bookworm AS build"), "the toolchain CI and the benchmarks use")
        #expect(text.components(separatedBy: "swift build").count == 2, "one build of every product")
    }

    @Test(
        "the four workers run as the image runs them: an email from a journey and a sales alert reach SMTP, with templates and rules found from the configuration file"
    )
    func runsAsShipped() async throws {
        let text = try String(contentsOfFile: "\(BuiltProducts.packageRoot)/Dockerfile", encoding: .utf8)
        let layout = try ImageLayout(dockerfile: text)
        let fm = FileManager.default
        // A root the numeric user can read: binaries and configuration as the image has them.
        let root = try temporaryDirectory("image")
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root)
        let bin = root + layout.binaries
        try fm.createDirectory(atPath: bin, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for worker in [Worker.ingestor, .scheduler, .sender, .alerter] {
            // Copied by cp, not in this process: a file this process held open for
            // writing leaks into children other tests spawn meanwhile, and exec
            // of it then fails with "Text file busy" (seen on CI, 2026-12-07).
            let cp = try ChildProcess(executable: "/bin/cp", arguments: [try BuiltProducts.executable(worker.executable), bin + worker.executable])
            #expect(await cp.wait(timeout: .seconds(60)) == 0)
        }
        let etc = root + layout.configuration
        try fm.createDirectory(atPath: (etc as NSString).deletingLastPathComponent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try fm.copyItem(atPath: "\(BuiltProducts.packageRoot)/config", toPath: etc)
        try chmodTree(root)
        let user = layout.user
        let launcher: TestWorker.Launcher = { path in
            ("/usr/bin/setpriv", ["--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", "/usr/bin/env", "--chdir=\(layout.workingDirectory)", path])
        }
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let sink = try await TestSMTPSink()
        // Only where the servers are and the keys: no templates or rules directory is named.
        let environment = ["HERALD_CONFIG": root + layout.configFile, "HERALD_SENDER_SMTP_SERVER": "127.0.0.1:\(sink.port)"]
        func start(_ worker: Worker) async throws -> TestWorker {
            try await TestWorker(worker, broker: broker, redis: redis, extraEnvironment: environment, executable: bin + worker.executable, launcher: launcher)
        }
        let ingestor = try await start(.ingestor)
        let scheduler = try await start(.scheduler)
        let sender = try await start(.sender)
        let alerter = try await start(.alerter)
        for worker in [ingestor, scheduler, sender, alerter] {
            let status = try String(contentsOfFile: "/proc/\(worker.process.pid)/status", encoding: .utf8)
            #expect(status.contains("Uid:\t\(user.uid)\t"), "runs as the image's user")
            #expect(try fm.destinationOfSymbolicLink(atPath: "/proc/\(worker.process.pid)/cwd") == layout.workingDirectory)
        }

        let admin = [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/yaml")]
        let campaign = """
            id: image-welcome
            name: Image welcome
            list: shop
            triggers: [{event: signed_up}]
            steps:
              - id: hello
                send: {channel: email, template: welcome-promo, category: welcome}
            """
        let published = try await client.send(
            method: "POST", url: "\(ingestor.apiURL)/v1/campaigns/image-welcome/publish", headers: admin, body: Array(campaign.utf8))
        #expect(published.status == 200, "\(published.bodyText)")
        let contact = try await client.send(
            method: "PUT", url: "\(ingestor.apiURL)/v1/contacts/ida",
            headers: [("Authorization", "Bearer \(TestIngestor.adminKey)"), ("Content-Type", "application/json")],
            body: Array(#"{"email":"ida@customer.example","lists":["shop"],"owner":"olaf@sales.example","attributes":{"first_name":"Ida"}}"#.utf8))
        #expect(contact.status == 200, "\(contact.bodyText)")
        try await Task.sleep(for: .seconds(1))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let events: JSONValue = [
            "events": [
                ["id": .string(uniqueName("img")), "type": "signed_up", "contact_id": "ida"],
                // The shipped rule (alerts/pricing-interest.yaml beside herald.yaml): any product page.
                [
                    "id": .string(uniqueName("img")), "type": "page_visited", "contact_id": "ida", "timestamp": .string(RFC3339.format(milliseconds: now)),
                    "properties": ["url": "https://shop.example/products/boots"],
                ],
            ]
        ]
        let posted = try await client.postJSON(
            "\(ingestor.apiURL)/v1/events", events.serialized(), headers: [("Authorization", "Bearer \(TestIngestor.apiKey)")])
        #expect(posted.status == 202, "\(posted.bodyText)")

        let deadline = ContinuousClock.now + .seconds(60)
        func mails() -> (journey: [String], alerts: [String]) {
            let all = sink.messages().filter { $0.contains("To: <") }
            return (
                all.filter { $0.contains("X-Herald-Send-Id:") && !$0.contains("X-Herald-Send-Id: alert:") },
                all.filter { $0.contains("X-Herald-Send-Id: alert:") }
            )
        }
        while ContinuousClock.now < deadline, mails().journey.isEmpty || mails().alerts.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
        let (journey, alerts) = mails()
        #expect(journey.count == 1 && journey.first?.contains("To: <ida@customer.example>") == true, "the journey's email\n\(sender.log)")
        #expect(alerts.contains { $0.contains("To: <olaf@sales.example>") }, "the shipped rule's alert to the owner\n\(alerter.log)")
        for worker in [ingestor, scheduler, sender, alerter] { #expect(worker.process.poll() == nil, "still running") }
        // Every worker's /metrics read by Prometheus' own parser and linter.
        for (name, worker) in [("ingestor", ingestor), ("scheduler", scheduler), ("sender", sender), ("alerter", alerter)] {
            let text = try await client.get("\(worker.metricsURL)/metrics").bodyText
            #expect(text.contains("herald_build_info{worker=\"\(name)\",version=\"\(HeraldVersion.current)\"} 1"), "\(name)")
            #expect(text.contains("herald_redis_round_trip_seconds_count{worker=\"\(name)\"}"), "\(name): Redis latency")
            if name == "ingestor" {
                // HTTP requests by route pattern and status.
                #expect(text.contains(#"herald_http_requests_total{route="/v1/events",method="POST",status="202"} 1"#), "\(text)")
                #expect(text.contains(#"herald_http_requests_total{route="/v1/contacts/{id}",method="PUT",status="200"} 1"#))
                #expect(text.contains(#"herald_http_request_duration_seconds_count{route="/v1/events",method="POST"} 1"#))
            }
            let (status, output) = try await Self.promtoolCheckMetrics(text)
            #expect(status == 0, "\(name): \(output)")
            // Liveness watches each worker's loops, named.
            let health = try await client.get("\(worker.metricsURL)/healthz")
            let loops: [String: [String]] = [
                "ingestor": ["consumer herald.events.raw", "consumer herald.events", "broadcast planner"],
                "scheduler": ["consumer herald.journeys", "wake-up poller", "date sweeper", "retirement sweeper"],
                "sender": ["consumer herald.sends", "retry poller"], "alerter": ["consumer herald.events"],
            ]
            #expect(health.status == 200)
            for loop in loops[name] ?? [] { #expect(health.bodyText.contains("\"\(loop)\""), "\(name): \(health.bodyText)") }
        }
        await redis.stop()
    }

    /// `promtool check metrics` on `text`: its exit status and what it printed.
    static func promtoolCheckMetrics(_ text: String) async throws -> (Int32, String) {
        let dir = try temporaryDirectory("metrics")
        try text.write(toFile: "\(dir)/metrics.txt", atomically: true, encoding: .utf8)
        let process = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", "promtool check metrics < '\(dir)/metrics.txt'"], output: .file("\(dir)/out.txt"))
        let status = await process.wait(timeout: .seconds(30)) ?? -1
        return (status, (try? String(contentsOfFile: "\(dir)/out.txt", encoding: .utf8)) ?? "")
    }

    @Test("promtool's check finds what it should: a gauge named like a histogram's count")
    func metricsLinterWorks() async throws {
        let (status, output) = try await Self.promtoolCheckMetrics("# HELP x_count a gauge\n# TYPE x_count gauge\nx_count 1\n")
        #expect(status != 0 && output.contains("_count"), "\(output)")
    }

    @Test("every worker answers --help with its keys and --version, exit 0, without configuration or servers")
    func helpAndVersion() async throws {
        for worker in [Worker.ingestor, .scheduler, .sender, .alerter] {
            for (flag, expected) in [("--help", "HERALD_KAFKA_SECURITY_PROTOCOL"), ("--version", "\(worker.executable) \(HeraldVersion.current)")] {
                let out = try temporaryDirectory("flags") + "/out.txt"
                // A configuration that could not load: the flags do not need one.
                let process = try ChildProcess(
                    executable: try BuiltProducts.executable(worker.executable), arguments: [flag], environment: ["HERALD_REDIS_PORT": "seventy"],
                    output: .file(out))
                #expect(await process.wait(timeout: .seconds(20)) == 0, "\(worker) \(flag)")
                let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
                #expect(text.contains(expected), "\(worker) \(flag): \(text)")
            }
        }
    }

    @Test("a templates or rules directory that is not there stops the sender or the alerter at start, naming the key")
    func missingDirectories() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let empty = try temporaryDirectory("etc")
        try "sender:\n  smtp_server: 127.0.0.1:1\n".write(toFile: "\(empty)/herald.yaml", atomically: true, encoding: .utf8)
        // The worker's own words: its log names the key and the path.
        for (worker, key) in [(Worker.sender, "sender.templates_dir"), (.alerter, "alerts.dir")] {
            let log = try temporaryDirectory("log") + "/out.log"
            var env = ProcessInfo.processInfo.environment
            env["HERALD_CONFIG"] = "\(empty)/herald.yaml"
            env["HERALD_KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrapServers
            env["HERALD_REDIS_PORT"] = String(redis.port)
            env["HERALD_DEV_MODE"] = "true"
            env["HERALD_METRICS_HOST"] = "127.0.0.1"
            env["HERALD_\(worker.rawValue.uppercased())_METRICS_PORT"] = String(freeTCPPort())
            let process = try ChildProcess(executable: try BuiltProducts.executable(worker.executable), environment: env, output: .file(log))
            let status = await process.wait(timeout: .seconds(30))
            #expect(status != nil && status != 0, "\(worker) stops")
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(text.contains(key) && text.contains("\(empty)/"), "\(text)")
        }
        await redis.stop()
    }

    /// Everything under `path` readable (and directories enterable) by any user.
    func chmodTree(_ path: String) throws {
        let fm = FileManager.default
        for item in try fm.subpathsOfDirectory(atPath: path) {
            let full = "\(path)/\(item)"
            var isDirectory: ObjCBool = false
            _ = fm.fileExists(atPath: full, isDirectory: &isDirectory)
            let executable = isDirectory.boolValue || fm.isExecutableFile(atPath: full)
            try fm.setAttributes([.posixPermissions: executable ? 0o755 : 0o644], ofItemAtPath: full)
        }
    }
}
