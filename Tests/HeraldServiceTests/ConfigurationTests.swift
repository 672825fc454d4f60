import Foundation
import HeraldService
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    func write(_ yaml: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("herald-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("file, then environment, then --set; each wins over the one before")
    func precedence() throws {
        let file = try write("kafka:\n  partitions: 12\n  bootstrap_servers: file:9092\nredis:\n  port: 7000\napi:\n  keys: [a, b]\n")
        let config = try Configuration.load(
            file: file, environment: ["HERALD_REDIS_PORT": "7001", "HERALD_KAFKA_PARTITIONS": "16"], overrides: ["kafka.partitions=20"])
        let s = try config.settings()
        #expect(s.partitions == 20)
        #expect(s.redis.port == 7001)
        #expect(s.kafkaBootstrapServers == "file:9092")
        #expect(s.apiKeys == ["a", "b"])
        #expect(s.dedupeWindow == .seconds(86_400))
        #expect(s.fetchWaitMax == .milliseconds(20))
        let slow = try Configuration.load(
            file: "", environment: ["HERALD_KAFKA_FETCH_WAIT_MAX": "500ms", "HERALD_ALERTS_SESSION_TIMEOUT": "5m"], overrides: []
        ).settings()
        #expect(slow.fetchWaitMax == .milliseconds(500) && slow.alerts.sessionTimeout == .seconds(300))
    }

    @Test("the shipped config/herald.yaml loads and equals the defaults")
    func shippedFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let shipped = try Configuration.load(file: root.appendingPathComponent("config/herald.yaml").path, environment: [:], overrides: [])
        let defaults = Configuration.defaults()
        for key in Configuration.keys {
            if key.isPath, !key.defaultValue.isEmpty, !key.defaultValue.hasPrefix("/") {
                #expect(shipped.string(key.name) == root.appendingPathComponent("config/\(key.defaultValue)").path, "\(key.name)")
            } else {
                #expect(shipped.string(key.name) == defaults.string(key.name), "\(key.name)")
            }
        }
        #expect(try shipped.settings().sender.templatesDirectory == root.appendingPathComponent("config/templates").path)
    }

    @Test("a relative path in the file is relative to the file's directory, as are the defaults; from the environment or --set, to the working directory")
    func relativePaths() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herald-etc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let file = dir.appendingPathComponent("herald.yaml").path
        try "sender:\n  templates_dir: ../shared/templates\nalerts:\n  dir: /srv/rules\n".write(toFile: file, atomically: true, encoding: .utf8)
        let cwd = FileManager.default.currentDirectoryPath
        let fromFile = try Configuration.load(file: file, environment: ["HERALD_ALERTS_TEMPLATES_DIR": "mine/alerts"], overrides: []).settings()
        #expect(fromFile.sender.templatesDirectory == dir.deletingLastPathComponent().appendingPathComponent("shared/templates").path)
        #expect(fromFile.alerts.rulesDirectory == "/srv/rules", "an absolute path stays as it is")
        #expect(fromFile.alerts.templatesDirectory == URL(fileURLWithPath: cwd).appendingPathComponent("mine/alerts").path)
        #expect(fromFile.sender.accountsDirectory == dir.appendingPathComponent("accounts").path, "a default is beside the file")
        let flag = try Configuration.load(file: file, environment: [:], overrides: ["sender.templates_dir=t"]).settings()
        #expect(flag.sender.templatesDirectory == URL(fileURLWithPath: cwd).appendingPathComponent("t").path)
        #expect { try Configuration.requireDirectory(dir.appendingPathComponent("templates").path, key: "sender.templates_dir") } throws: {
            "\($0)".contains("sender.templates_dir") && "\($0)".contains("not a directory")
        }
        try Configuration.requireDirectory(dir.path, key: "sender.templates_dir")
    }

    @Test(
        "every secret can come from a file (<key>_file in the file or --set, HERALD_<KEY>_FILE), at that source's precedence; errors name the key and path, never the content"
    )
    func secretFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herald-secrets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func secret(_ name: String, _ text: String) throws -> String {
            let path = "\(dir)/\(name)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let password = try secret("smtp", "s3cr3t pass\n")
        let admin = try secret("admin", "admin-one,admin-two\r\n")
        let token = try secret("token", "from-a-file")
        let file = try write("sender:\n  smtp_password_file: \(password)\nunsubscribe:\n  secret: in-the-yaml\n")
        let config = try Configuration.load(
            file: file, environment: ["HERALD_API_ADMIN_KEYS_FILE": admin, "HERALD_UNSUBSCRIBE_SECRET_FILE": token], overrides: [])
        let s = try config.settings()
        #expect(s.sender.smtpPassword == "s3cr3t pass", "one trailing line break dropped, inner blanks kept")
        #expect(s.adminKeys == ["admin-one", "admin-two"])
        #expect(s.unsubscribeSecret == "from-a-file", "the environment's file wins over the YAML's value")
        #expect(config.sources["api.admin_keys"] == "api.admin_keys_file from HERALD_API_ADMIN_KEYS_FILE")
        let flag = try Configuration.load(file: file, environment: [:], overrides: ["unsubscribe.secret_file=\(token)"]).settings()
        #expect(flag.unsubscribeSecret == "from-a-file")
        // Both forms from one source: refused, whichever is read first.
        let both = try write("unsubscribe:\n  secret: inline\n  secret_file: \(token)\n")
        #expect { try Configuration.load(file: both, environment: [:], overrides: []) } throws: { "\($0)".contains("are both set") }
        #expect { try Configuration.load(file: "", environment: [:], overrides: ["unsubscribe.secret_file=\(token)", "unsubscribe.secret=x"]) } throws: {
            "\($0)".contains("are both set")
        }
        #expect {
            try Configuration.load(file: "", environment: ["HERALD_UNSUBSCRIBE_SECRET": "x", "HERALD_UNSUBSCRIBE_SECRET_FILE": token], overrides: [])
        } throws: {
            "\($0)".contains("are both set")
        }
        // Not a secret: no _file form.
        #expect { try Configuration.load(file: "", environment: [:], overrides: ["kafka.partitions_file=\(token)"]) } throws: {
            "\($0)".contains("unknown configuration key 'kafka.partitions_file'")
        }
        #expect { try Configuration.load(file: "", environment: ["HERALD_SENDER_WHATSAPP_TOKEN_FILE": "\(dir)/absent"], overrides: []) } throws: {
            "\($0)".contains("sender.whatsapp_token_file") && "\($0)".contains("\(dir)/absent") && "\($0)".contains("cannot be read")
        }
        let huge = try secret("huge", String(repeating: "x", count: 70_000))
        #expect { try Configuration.load(file: "", environment: ["HERALD_SENDER_WHATSAPP_TOKEN_FILE": huge], overrides: []) } throws: {
            "\($0)".contains("larger than") && !"\($0)".contains("xxxx")
        }
    }

    @Test("docs/configuration.md lists exactly the keys there are, each with its default and variable, and marks every secret")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let doc = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        var rows: [String: String] = [:]
        for line in doc.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            rows[cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))] = String(line)
        }
        #expect(Set(rows.keys) == Set(Configuration.keys.map(\.name)), "documented but not a key, or a key not documented")
        #expect(Set(Configuration.keys.map(\.name)).count == Configuration.keys.count, "a key declared twice")
        for key in Configuration.keys {
            guard let row = rows[key.name] else { continue }
            #expect(row.hasPrefix("| `\(key.name)` | `\(key.defaultValue)` | `\(key.environmentName)` |"), "\(row)")
            #expect(row.contains("**Secret.**") == Configuration.secretKeys.contains(key.name), "\(key.name)")
        }
    }

    @Test(
        "errors name the key, the bad value and where it came from",
        arguments: [
            ("HERALD_REDIS_PORT", "seventy", "redis.port", "'seventy'"),
            ("HERALD_KAFKA_PARTITIONS", "0", "kafka.partitions", "1...10000"),
            ("HERALD_INGEST_DEDUPE_WINDOW", "soon", "ingest.dedupe_window", "duration"),
            ("HERALD_SENDER_GIVE_UP_AFTER", "never", "sender.give_up_after", "duration"),
            ("HERALD_LOG_FORMAT", "xml", "log.format", "text or json"),
            ("HERALD_KAFKA_CREATE_TOPICS", "maybe", "kafka.create_topics", "true or false"),
        ])
    func badValues(variable: String, value: String, key: String, fragment: String) {
        do {
            _ = try Configuration.load(file: "", environment: [variable: value], overrides: [])
            Issue.record("expected \(key)=\(value) to be refused")
        } catch {
            let text = "\(error)"
            #expect(text.contains(key) && text.contains(fragment) && text.contains(variable), "\(text)")
        }
    }

    @Test(
        "the file is read with Herald's YAML reader: a base-60 number past Int is refused by its key, not a trap; bad YAML names its line; a file of comments is the defaults"
    )
    func yamlReader() throws {
        // Yams.load traps on this value (its base-60 arithmetic does not check overflow).
        let huge = try write("kafka:\n  partitions: 9223372036854775807:08\n")
        #expect { try Configuration.load(file: huge, environment: [:], overrides: []) } throws: { "\($0)".contains("kafka.partitions") }
        let sexagesimal = try Configuration.load(file: try write("redis:\n  port: 1:40\n"), environment: [:], overrides: [])
        #expect(try sexagesimal.settings().redis.port == 100, "YAML 1.1 reads 1:40 as 100, as Yams did")
        let broken = try write("kafka:\n  partitions: [12\n")
        #expect { try Configuration.load(file: broken, environment: [:], overrides: []) } throws: { "\($0)".contains("not valid YAML (line") }
        let comments = try Configuration.load(file: try write("# nothing set here\n"), environment: [:], overrides: [])
        #expect(comments.string("kafka.partitions") == Configuration.defaults().string("kafka.partitions"))
        let flags = try Configuration.load(file: try write("kafka:\n  create_topics: false\nsender:\n  max_attempts: 4\n"), environment: [:], overrides: [])
        #expect(flags.string("kafka.create_topics") == "false" && flags.string("sender.max_attempts") == "4")
    }

    @Test("unknown keys in the file or in --set are refused")
    func unknownKeys() throws {
        let file = try write("kafka:\n  partitons: 12\n")
        #expect(throws: ConfigurationError.self) { try Configuration.load(file: file, environment: [:], overrides: []) }
        #expect(throws: ConfigurationError.self) { try Configuration.load(file: "", environment: [:], overrides: ["nope.key=1"]) }
        #expect(throws: ConfigurationError.self) { try Configuration.load(file: "", environment: [:], overrides: ["kafka.partitions"]) }
        #expect(throws: ConfigurationError.self) { try Configuration.load(file: "/missing/herald.yaml", environment: [:], overrides: []) }
    }

    @Test(
        "durations",
        arguments: [("250ms", Duration.milliseconds(250)), ("2s", .seconds(2)), ("5m", .seconds(300)), ("24h", .seconds(86_400)), ("7d", .seconds(604_800))])
    func durations(text: String, expected: Duration) {
        #expect(Configuration.parseDuration(text) == expected)
    }

    @Test(
        "outside dev mode a sandbox credential or a loopback provider URL stops the worker at start, naming the key",
        arguments: [
            ("sender.twilio_auth_token", "sandbox-token"), ("sender.whatsapp_token", "sandbox-token"), ("sender.twilio_account_sid", "ACsandbox"),
            ("sender.whatsapp_api_url", "http://127.0.0.1:8090"), ("sender.twilio_api_url", "http://localhost:8090/"),
            ("sender.whatsapp_api_url", "https://[::1]:443"),
        ])
    func devValuesRefused(key: String, value: String) throws {
        do {
            _ = try Configuration.load(file: "", environment: [:], overrides: ["\(key)=\(value)"])
            Issue.record("\(key)=\(value) was accepted outside dev mode")
        } catch {
            #expect("\(error)".contains("'\(key)'"))
            if Configuration.secretKeys.contains(key) { #expect(!"\(error)".contains(value), "a secret's value is never shown") }
        }
        let dev = try Configuration.load(file: "", environment: ["HERALD_DEV_MODE": "true"], overrides: ["\(key)=\(value)"])
        #expect(try dev.settings().devMode)
    }

    @Test("the defaults hold no working credential: providers are unconfigured, not the sandbox's")
    func noWorkingDefaults() throws {
        let s = try Configuration.load(file: "", environment: [:], overrides: []).settings()
        #expect(!s.devMode)
        #expect(s.sender.twilioAuthToken.isEmpty && s.sender.whatsAppToken.isEmpty && s.sender.twilioAccountSid.isEmpty)
        #expect(s.sender.whatsAppURL == "https://graph.facebook.com" && s.sender.twilioURL == "https://api.twilio.com")
        #expect(s.unsubscribeSecret.isEmpty && s.whatsAppAppSecret.isEmpty && s.sender.webhookSecret.isEmpty)
    }

    @Test("command-line flags")
    func flags() throws {
        let o = try CommandLineOptions.parse(["--config", "x.yaml", "--set", "a=1", "--set=b=2"])
        #expect(o.configFile == "x.yaml")
        #expect(o.overrides == ["a=1", "b=2"])
        #expect(throws: ConfigurationError.self) { try CommandLineOptions.parse(["--bogus"]) }
        #expect(throws: ConfigurationError.self) { try CommandLineOptions.parse(["--config"]) }
    }
}
