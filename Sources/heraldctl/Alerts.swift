import ArgumentParser
import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools

/// `heraldctl alerts`: sales alert rules (docs/alerts.md).
struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with alert rules: validate files locally; create and operate them through the ingestor's admin API.",
        subcommands: [Validate.self, Create.self, List.self, Show.self, Enable.self, Disable.self, Delete.self, Stats.self])

    /// Reads a rule file, or says which file, field and reason.
    static func read(_ file: String) throws -> AlertRule {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw CLIError("\(file): cannot read the file") }
        do {
            return try AlertRule(json: try YAMLValue.parse(text))
        } catch {
            throw CLIError("\(file): \(error)")
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check alert rule files; print each one's summary, or file: field: reason.")
        @Argument(help: "Alert rule YAML files.") var files: [String]

        func run() async throws {
            var failed = 0
            for file in files {
                do {
                    print("\(file): ok\n\(try Alerts.read(file).summary)")
                } catch {
                    print("\(error)")
                    failed += 1
                }
            }
            if failed > 0 { throw ExitCode(1) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a rule's summary, then save it (asks first; --yes does not). Replaces a rule with the same id.")
        @Argument(help: "Alert rule YAML file.") var file: String
        @Flag(help: "Save without asking.") var yes = false
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let rule = try Alerts.read(file)
            print(rule.summary)
            if !yes {
                guard isatty(0) == 1 else { throw CLIError("not saved: pass --yes to save without being asked") }
                print("Save this alert? [y/N] ", terminator: "")
                fflush(nil)
                guard let answer = readLine(), answer.lowercased().hasPrefix("y") else {
                    print("not saved")
                    throw ExitCode(1)
                }
            }
            try await admin.call("PUT", "/v1/alerts/\(rule.id)", body: rule.json.jsonString)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List alert rules with their summaries.")
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.listAll("/v1/alerts", "alerts") }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one alert rule.")
        @Argument var id: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("GET", "/v1/alerts/\(id)") }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Switch an alert rule ON.")
        @Argument var id: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("POST", "/v1/alerts/\(id)/enable") }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Switch an alert rule OFF (waiting visits then send nothing).")
        @Argument var id: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("POST", "/v1/alerts/\(id)/disable") }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete an alert rule.")
        @Argument var id: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("DELETE", "/v1/alerts/\(id)") }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-day analytics of a rule: visits matched, alerts sent, suppressed by the cap, visits too short.")
        @Argument var id: String
        @Option(help: "How many local days, ending today.") var days = 7
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("GET", "/v1/alerts/\(id)/stats?days=\(days)") }
    }
}
