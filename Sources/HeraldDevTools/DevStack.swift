import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldService

/// `heraldctl dev`: the whole fleet on one machine.
public struct DevStack: Sendable {
    /// `heraldctl dev --partitions` (its `--help` says what it does).
    public var partitions: Int = 24
    /// `heraldctl dev --api-port` (its `--help` says what it does).
    public var apiPort: Int = 8080
    /// `heraldctl dev --metrics-port` (its `--help` says what it does).
    public var metricsPort: Int = 9401
    /// `heraldctl dev --demo` (its `--help` says what it does).
    public var demo: Bool = false
    /// `heraldctl dev --workers` (its `--help` says what it does).
    public var workers: String = Worker.allCases.map(\.rawValue).joined(separator: ",")
    /// `heraldctl dev --exit-after-start` (its `--help` says what it does).
    public var exitAfterStart: Bool = false
    /// `heraldctl dev --outbox` (its `--help` says what it does).
    public var outbox: String = DevPaths.outbox

    /// Options as `heraldctl` parsed them; the defaults are the flags'.
    public init(
        partitions: Int = 24, apiPort: Int = 8080, metricsPort: Int = 9401, demo: Bool = false,
        workers: String = Worker.allCases.map(\.rawValue).joined(separator: ","), exitAfterStart: Bool = false, outbox: String = DevPaths.outbox
    ) {
        self.partitions = partitions
        self.apiPort = apiPort
        self.metricsPort = metricsPort
        self.demo = demo
        self.workers = workers
        self.exitAfterStart = exitAfterStart
        self.outbox = outbox
    }

    /// Starts the stack (broker, Redis, SMTP sink, sandbox, workers) and runs it until SIGINT or SIGTERM.
    public func run() async throws {
        var selected: [Worker] = []
        for name in workers.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            guard let w = Worker(rawValue: name) else {
                throw CLIError("--workers: unknown worker '\(name)' (expected \(Worker.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            selected.append(w)
        }
        guard selected.contains(.ingestor) else { throw CLIError("--workers must include ingestor (the API and the campaigns are loaded through it)") }
        if demo && selected.count < Worker.allCases.count { throw CLIError("--demo needs every worker") }
        try DevGuard.lock()
        try DevGuard.requireFree(
            [(apiPort, "the ingestor's API, --api-port")]
                + Worker.allCases.enumerated().filter { selected.contains($0.element) }.map {
                    (metricsPort + $0.offset, "\($0.element.executable)'s metrics, --metrics-port + \($0.offset)")
                })
        let termination = TerminationSignal.install()
        let fm = FileManager.default
        // The outbox holds this run's emails only: kept across runs it grew without
        // bound (a benchmark writes tens of thousands), and the sink, writing into a
        // directory of 250,000 files, became the slowest part of the stack.
        // Only the sink's .eml files are removed: `--outbox` may name any directory.
        for file in (try? fm.contentsOfDirectory(atPath: outbox)) ?? [] where file.hasSuffix(".eml") {
            try? fm.removeItem(atPath: "\(outbox)/\(file)")
        }
        for dir in [DevPaths.logs, DevPaths.redis, outbox] { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        let binDir = executableDirectory()
        var children: [(String, ChildProcess)] = []
        func stopAll() async {
            // Workers first (they drain and commit), then Redis, then the broker.
            for (name, child) in children.reversed() {
                let code = await child.stop(grace: .seconds(25))
                print("stopped \(name) (exit \(code))")
                fflush(nil)
            }
        }
        do {
            // 1. The embedded broker.
            try? fm.removeItem(atPath: DevPaths.brokerAddress)
            let broker = try ChildProcess(
                executable: "\(binDir)/heraldctl", arguments: ["broker", "--partitions", String(partitions), "--address-file", DevPaths.brokerAddress],
                output: .file("\(DevPaths.logs)/broker.log"))
            children.append(("broker", broker))
            let bootstrap = try await waitForFile(DevPaths.brokerAddress, process: broker, what: "the embedded broker")

            try termination.check()
            // 2. redis-server with its data under .herald/dev/redis. Uncompressed
            // AOF rewrites: LZF is ~40 % of the rewrite child's CPU, and on two
            // shared cores that child is what makes wake-ups late (docs/benchmarks.md,
            // "Wake-up lateness with persistence on").
            let redisPort = freeTCPPort()
            let redis = try ChildProcess(
                executable: redisServerExecutable(),
                arguments: [
                    "--port", String(redisPort), "--bind", "127.0.0.1", "--dir", fm.currentDirectoryPath + "/" + DevPaths.redis, "--appendonly", "yes",
                    "--appendfsync", "everysec", "--maxmemory-policy", "noeviction", "--rdbcompression", "no", "--save", "",
                ],
                output: .file("\(DevPaths.logs)/redis.log"))
            children.append(("redis-server", redis))
            try (String(redisPort) + "\n").write(toFile: DevPaths.redisPort, atomically: true, encoding: .utf8)

            try termination.check()
            // 3. The SMTP sink: the sender's email lands as .eml files in the outbox.
            let smtpPort = freeTCPPort()
            let sink = try ChildProcess(
                executable: "/usr/bin/env",
                arguments: ["python3", fm.currentDirectoryPath + "/scripts/smtp-sink.py", "--port", String(smtpPort), "--dir", outbox],
                output: .file("\(DevPaths.logs)/smtp-sink.log"))
            children.append(("smtp-sink", sink))

            try termination.check()
            // 4. The sandbox provider (WhatsApp Cloud API and Twilio formats); its
            //    status webhooks go to the ingestor, signed with the stack's app secret.
            let sandboxPort = freeTCPPort()
            let appSecret = try devKey("\(DevPaths.root)/whatsapp-app-secret", prefix: "app-")
            let sandbox = try ChildProcess(
                executable: "\(binDir)/heraldctl",
                arguments: [
                    "sandbox", "--port", String(sandboxPort), "--whatsapp-callback", "http://127.0.0.1:\(apiPort)/v1/status/whatsapp", "--app-secret",
                    appSecret,
                ],
                output: .file("\(DevPaths.logs)/sandbox.log"))
            children.append(("sandbox", sandbox))
            // The senders check WhatsApp templates against the synced catalogue.
            try await Task.sleep(for: .milliseconds(500))
            let sync = try ChildProcess(
                executable: "\(binDir)/heraldctl",
                arguments: ["templates", "sync", "--api-url", "http://127.0.0.1:\(sandboxPort)", "--redis-port", String(redisPort)],
                output: .file("\(DevPaths.logs)/templates-sync.log"))
            if await sync.wait(timeout: .seconds(20)) != 0 { print("warning: WhatsApp template sync failed; see \(DevPaths.logs)/templates-sync.log") }

            try termination.check()
            // 5. The workers.
            let apiKey = try devKey(DevPaths.apiKey, prefix: "dev-")
            let adminKey = try devKey(DevPaths.adminKey, prefix: "dev-admin-")
            let environment: [String: String] = [
                "HERALD_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "HERALD_KAFKA_PARTITIONS": String(partitions),
                "HERALD_REDIS_PORT": String(redisPort),
                "HERALD_API_PORT": String(apiPort),
                "HERALD_API_KEYS": apiKey,
                "HERALD_API_ADMIN_KEYS": adminKey,
                "HERALD_INGESTOR_METRICS_PORT": String(metricsPort),
                "HERALD_SCHEDULER_METRICS_PORT": String(metricsPort + 1),
                "HERALD_SENDER_METRICS_PORT": String(metricsPort + 2),
                "HERALD_ALERTER_METRICS_PORT": String(metricsPort + 3),
                "HERALD_SENDER_SMTP_SERVER": "127.0.0.1:\(smtpPort)",
                "HERALD_SENDER_WHATSAPP_API_URL": "http://127.0.0.1:\(sandboxPort)", "HERALD_SENDER_TWILIO_API_URL": "http://127.0.0.1:\(sandboxPort)",
                // The sandbox's credentials: accepted only because dev mode is on.
                "HERALD_DEV_MODE": "true",
                "HERALD_SENDER_WHATSAPP_TOKEN": "sandbox-token", "HERALD_SENDER_WHATSAPP_PHONE_NUMBER_ID": "sandbox-phone",
                "HERALD_SENDER_TWILIO_ACCOUNT_SID": "ACsandbox", "HERALD_SENDER_TWILIO_AUTH_TOKEN": "sandbox-token",
                "HERALD_WHATSAPP_APP_SECRET": appSecret,
                "HERALD_WHATSAPP_VERIFY_TOKEN": try devKey("\(DevPaths.root)/whatsapp-verify-token", prefix: "verify-"),
                "HERALD_SENDER_TEMPLATES_DIR": fm.currentDirectoryPath + "/config/templates",
                "HERALD_SENDER_PUBLIC_URL": "http://127.0.0.1:\(apiPort)",
                // High limits: the checks run (and are measured by `bench send`) but do not bind.
                "HERALD_LIMITS_WEBHOOK_PER_SECOND": "1000000", "HERALD_LIMITS_EMAIL_PER_SECOND": "1000000",
                "HERALD_LIMITS_MARKETING_PER_CONTACT_PER_DAY": "1000000",
                "HERALD_UNSUBSCRIBE_SECRET": try devKey("\(DevPaths.root)/unsubscribe-secret", prefix: "unsub-"),
                "HERALD_SENDER_WEBHOOK_SECRET": try devKey("\(DevPaths.root)/webhook-secret", prefix: "whsec-"),
            ]
            for worker in selected {
                let child = try ChildProcess(
                    executable: "\(binDir)/\(worker.executable)", environment: environment,
                    output: .file("\(DevPaths.logs)/\(worker.executable).log"))
                children.append((worker.executable, child))
            }
            let client = HTTPClient(concurrency: 2)
            for (i, worker) in Worker.allCases.enumerated() where selected.contains(worker) {
                try termination.check()
                try await waitReady(
                    client, url: "http://127.0.0.1:\(metricsPort + i)/readyz", name: worker.executable, process: children.first { $0.0 == worker.executable }!.1
                )
            }
            let apiURL = "http://127.0.0.1:\(apiPort)"
            try (apiURL + "\n").write(toFile: DevPaths.apiURL, atomically: true, encoding: .utf8)
            try await loadCampaigns(client: client, apiURL: apiURL, adminKey: adminKey)
            print(
                """

                Herald dev stack is up.
                  API:       \(apiURL)/v1/events
                  API key:   \(apiKey)   (also in \(DevPaths.apiKey))
                  Admin key: \(adminKey)   (also in \(DevPaths.adminKey); for /v1/campaigns and `heraldctl campaigns`)
                  Kafka:     \(bootstrap)
                  Redis:     127.0.0.1:\(redisPort)
                  Email:     SMTP sink on 127.0.0.1:\(smtpPort); this run's messages in \(outbox)/*.eml
                  WhatsApp/SMS: sandbox provider on http://127.0.0.1:\(sandboxPort) (requests: /sandbox/requests)
                  Metrics:   \(Worker.allCases.enumerated().filter { selected.contains($0.element) }.map { "\($0.element.rawValue) http://127.0.0.1:\(metricsPort + $0.offset)/metrics" }.joined(separator: "\n             "))
                  Logs:      \(DevPaths.logs)/

                Try:
                  curl -s -X POST \(apiURL)/v1/events -H 'Authorization: Bearer \(apiKey)' -H 'Content-Type: application/json' \\
                    -d '{"id":"evt-1","type":"purchase","contact_id":"c-42","properties":{"total":99.5}}'
                  .build/debug/heraldctl tail herald.events

                Ctrl-C stops everything.
                """)
            fflush(nil)
            try termination.check()
            if demo { try await runDemo(client: client, apiURL: apiURL, apiKey: apiKey, adminKey: adminKey, bootstrap: bootstrap) }
            if !exitAfterStart {
                await watch(children, until: termination)
                print("\nstopping…")
                fflush(nil)
            }
            await stopAll()
        } catch {
            await stopAll()
            throw error
        }
    }

    private func runDemo(client: HTTPClient, apiURL: String, apiKey: String, adminKey: String, bootstrap: String) async throws {
        let run = UUID().uuidString.prefix(8).lowercased()
        let body = """
            {"events":[
              {"id":"demo-\(run)-1","type":"list_subscribed","contact_id":"demo-ada","properties":{"list":"newsletter"}},
              {"id":"demo-\(run)-2","type":"cart_abandoned","contact_id":"demo-ada","properties":{"cart_total":129.9}},
              {"id":"demo-\(run)-3","type":"purchase","contact_id":"demo-grace","timestamp":"2026-11-22T10:00:00Z","properties":{"total":42}},
              {"id":"demo-\(run)-3","type":"purchase","contact_id":"demo-grace","properties":{"total":42}},
              {"id":"demo-\(run)-4","type":"purchase","properties":{"total":1}}
            ]}
            """
        print("demo: POST \(apiURL)/v1/events with 5 events (one duplicate id, one without contact_id)")
        let response = try await client.postJSON("\(apiURL)/v1/events", Array(body.utf8), headers: [("Authorization", "Bearer \(apiKey)")])
        print("demo: HTTP \(response.status) \(response.bodyText)")
        print("demo: reading them back from herald.events:")
        fflush(nil)
        let tail = try ChildProcess(
            executable: "\(executableDirectory())/heraldctl",
            arguments: ["tail", "herald.events", "--bootstrap", bootstrap, "--count", "3"])
        if await tail.wait(timeout: .seconds(30)) == nil {
            tail.signal(SIGKILL)
            throw CLIError("demo: the accepted events did not appear on herald.events within 30 s")
        }

        // A whole journey: a French-speaking contact buys something, so the published
        // post-purchase campaign sends her a French thank-you email through the SMTP sink.
        // Changing a contact over the API takes the admin scope (an ingest key only posts events).
        let headers = [("Authorization", "Bearer \(adminKey)"), ("Content-Type", "application/json")]
        // The outbox is listed before each event is posted: the email can land
        // within a few hundred milliseconds, before a listing taken afterwards.
        var before = outboxFiles()
        _ = try await client.send(
            method: "PUT", url: "\(apiURL)/v1/contacts/demo-eva-\(run)", headers: headers,
            body: Array(
                #"{"email":"eva@shop.example","owner":"olaf@shop.example","attributes":{"first_name":"Eva","last_name":"Martin","company":"Café Lumière","city":"Lyon","language":"fr"}}"#
                    .utf8))
        _ = try await client.postJSON(
            "\(apiURL)/v1/events", Array(#"{"id":"demo-\#(run)-5","type":"purchase","contact_id":"demo-eva-\#(run)","properties":{"total":42}}"#.utf8),
            headers: [("Authorization", "Bearer \(apiKey)")])
        print("demo: demo-eva-\(run) (language fr) purchased: waiting for the post-purchase campaign's email in \(outbox)/")
        fflush(nil)
        try await waitForEmail(after: before) { !$0.contains("X-Herald-Send-Id: alert:") }

        // A sales alert (config/alerts/pricing-interest.yaml): she opens a product
        // page, so her owner and the sales lead get an alert with her details.
        before = outboxFiles()
        _ = try await client.postJSON(
            "\(apiURL)/v1/events",
            Array(
                #"{"id":"demo-\#(run)-6","type":"page_visited","contact_id":"demo-eva-\#(run)","properties":{"url":"https://shop.example/products/espresso-machine"}}"#
                    .utf8),
            headers: [("Authorization", "Bearer \(apiKey)")])
        print("demo: demo-eva-\(run) opened https://shop.example/products/espresso-machine: waiting for the sales alert in \(outbox)/")
        fflush(nil)
        try await waitForEmail(after: before) { $0.contains("X-Herald-Send-Id: alert:") }
    }

    private func outboxFiles() -> Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: outbox)) ?? []) }

    /// Waits up to 30 s for an `.eml` not in `before` that `matches`; prints its subject.
    private func waitForEmail(after before: Set<String>, _ matches: (String) -> Bool) async throws {
        var seen = before
        for _ in 0..<150 {
            let now = outboxFiles().subtracting(seen).filter { $0.hasSuffix(".eml") && !$0.hasPrefix(".") }
            for file in now.sorted() {
                let text = (try? String(contentsOfFile: "\(outbox)/\(file)", encoding: .utf8)) ?? ""
                guard matches(text) else { continue }
                let subject = text.split(separator: "\r\n").first { $0.hasPrefix("Subject:") } ?? ""
                let to = text.split(separator: "\r\n").first { $0.hasPrefix("To:") } ?? ""
                print("demo: \(outbox)/\(file) — \(to) — \(subject)")
                fflush(nil)  // the stack keeps running: a redirected stdout would hold this line
                return
            }
            seen.formUnion(
                now.filter { !$0.hasPrefix(".") && ((try? String(contentsOfFile: "\(outbox)/\($0)", encoding: .utf8)).map { !$0.isEmpty } ?? false) })
            try await Task.sleep(for: .milliseconds(200))
        }
        throw CLIError("demo: the expected email did not reach \(outbox)/ within 30 s (see \(DevPaths.logs)/herald-sender.log and herald-alerter.log)")
    }

    /// The key kept in `path`, made once per dev directory.
    private func devKey(_ path: String, prefix: String) throws -> String {
        if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), !existing.isEmpty {
            return existing
        }
        let key = prefix + (0..<24).map { _ in String("abcdefghijklmnopqrstuvwxyz0123456789".randomElement()!) }.joined()
        try (key + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return key
    }

    /// Publishes the example campaigns (config/campaigns) through the admin API.
    private func loadCampaigns(client: HTTPClient, apiURL: String, adminKey: String) async throws {
        let dir = "config/campaigns"
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        var loaded: [String] = []
        for file in files.sorted() where file.hasSuffix(".yaml") {
            let text = try String(contentsOfFile: "\(dir)/\(file)", encoding: .utf8)
            let campaign = try CampaignParser.parse(text, file: "\(dir)/\(file)")
            let r = try await client.send(
                method: "POST", url: "\(apiURL)/v1/campaigns/\(campaign.id)/publish?mode=drain",
                headers: [("Authorization", "Bearer \(adminKey)"), ("Content-Type", "application/yaml")], body: Array(text.utf8))
            guard r.status == 200 else { throw CLIError("publishing \(dir)/\(file) failed: HTTP \(r.status) \(r.bodyText)") }
            loaded.append(campaign.id)
        }
        print("Campaigns published from \(dir)/: \(loaded.joined(separator: ", "))")
    }

    private func waitForFile(_ path: String, process: ChildProcess, what: String) async throws -> String {
        for _ in 0..<300 {
            if let s = try? String(contentsOfFile: path, encoding: .utf8), !s.isEmpty { return s.trimmingCharacters(in: .whitespacesAndNewlines) }
            if let code = process.poll() { throw CLIError("\(what) exited with \(code); see \(DevPaths.logs)/") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw CLIError("\(what) did not start within 15 s; see \(DevPaths.logs)/")
    }

    /// Until Ctrl-C: says at once when a process of the stack exits (a worker's
    /// crash must not go unnoticed behind a stack that looks up); the rest run on.
    private func watch(_ children: [(String, ChildProcess)], until termination: TerminationSignal) async {
        var reported: Set<String> = []
        while (try? termination.check()) != nil {
            for (name, child) in children where !reported.contains(name) {
                guard let code = child.poll() else { continue }
                reported.insert(name)
                print("\n\(name) exited with \(code); see \(DevPaths.logs)/\(name).log — the rest of the stack runs on (Ctrl-C stops it)")
                fflush(nil)
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }

    private func waitReady(_ client: HTTPClient, url: String, name: String, process: ChildProcess) async throws {
        for _ in 0..<300 {
            if let code = process.poll() { throw CLIError("\(name) exited with \(code); see \(DevPaths.logs)/\(name).log") }
            if let r = try? await client.get(url, timeout: .seconds(2)), r.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw CLIError("\(name) was not ready within 30 s; see \(DevPaths.logs)/\(name).log")
    }
}
