import ArgumentParser
import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools

/// `heraldctl campaigns`: campaign files.
struct Campaigns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with campaigns (docs/campaigns.md): validate files locally; publish and operate them through the ingestor's admin API.",
        subcommands: [Validate.self, Publish.self, List.self, Show.self, Pause.self, Resume.self, Stop.self, Rollback.self, Test.self, Report.self])

    /// `heraldctl campaigns validate FILE...`
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check campaign files; print file:line: reason for each invalid one.")

        @Argument(help: "Campaign YAML files.") var files: [String]

        func run() async throws {
            var failed = 0
            for file in files {
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                    print("\(file): cannot read the file")
                    failed += 1
                    continue
                }
                do {
                    let c = try CampaignParser.parse(text, file: file)
                    print("\(file): ok — campaign '\(c.id)', \(c.triggers.count) trigger(s), \(c.steps.count) step(s)")
                } catch {
                    print(error.description)
                    failed += 1
                }
            }
            if failed > 0 { throw ExitCode(1) }
        }
    }
}

/// Where the admin API is and the key to use (defaults: the dev stack's).
struct AdminOptions: ParsableArguments {
    @Option(help: "Ingestor API base URL (default: the dev stack's).") var api: String?
    @Option(help: "Admin key (default: HERALD_API_ADMIN_KEYS, its _FILE, or the dev stack's).") var adminKey: String?

    /// The admin API these options name (the dev stack's by default).
    func endpoint() throws -> AdminEndpoint { try AdminEndpoint.resolve(url: api, key: adminKey) }

    func resolved() throws -> (url: String, key: String) {
        let e = try endpoint()
        return (e.url, e.key)
    }

    /// GETs every page of the list at `path` (following `next_cursor`) and prints
    /// one JSON object with all of `name`'s items: the CLI shows a whole list, the
    /// API hands it out a page at a time.
    func listAll(_ path: String, _ name: String) async throws {
        var items: [JSONValue] = [], cursor: String?
        repeat {
            let query = "limit=1000" + (cursor.map { "&cursor=\(URLEncoding.percentEncoded($0))" } ?? "")
            let page = try await Contacts.get(self, path + (path.contains("?") ? "&" : "?") + query)
            items += page[name]?.arrayValue ?? []
            cursor = page["next_cursor"]?.stringValue
        } while cursor != nil
        print(String(decoding: JSONValue.object([name: .array(items)]).serialized(), as: UTF8.self))
    }

    /// Sends one admin request; prints the answer; fails on a non-2xx status.
    func call(_ method: String, _ path: String, body: String? = nil, contentType: String = "application/yaml") async throws {
        guard (200..<300).contains(try await endpoint().call(method, path, body: body, contentType: contentType)) else { throw ExitCode(1) }
    }
}

extension Campaigns {
    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish campaign files as new versions.")
        @Argument(help: "Campaign YAML files.") var files: [String]
        @Option(help: "What happens to journeys on the previous version: drain or now.") var mode = "drain"
        @OptionGroup var admin: AdminOptions
        func run() async throws {
            for file in files {
                let text = try String(contentsOfFile: file, encoding: .utf8)
                let campaign = try CampaignParser.parse(text, file: file)
                try await admin.call("POST", "/v1/campaigns/\(campaign.id)/publish?mode=\(mode)", body: text)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List campaign ids.")
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.listAll("/v1/campaigns", "campaigns") }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a campaign's state and versions (or a version's YAML with --version).")
        @Argument var id: String
        @Option(help: "Print this version's YAML.") var version: Int?
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("GET", "/v1/campaigns/\(id)" + (version.map { "?version=\($0)" } ?? "")) }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause: no one enters, wake-ups are held.")
        @Argument var id: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("POST", "/v1/campaigns/\(id)/pause") }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused campaign.")
        @Argument var id: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("POST", "/v1/campaigns/\(id)/resume") }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop: drain (those inside finish) or now (everyone removed).")
        @Argument var id: String
        @Option(help: "drain or now.") var mode: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("POST", "/v1/campaigns/\(id)/stop?mode=\(mode)") }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish an earlier version again as a new version.")
        @Argument var id: String
        @Option(help: "The version to go back to.") var version: Int
        @Option(help: "drain or now, for journeys on the current version.") var mode = "drain"
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("POST", "/v1/campaigns/\(id)/rollback?version=\(version)&mode=\(mode)") }
    }
}

extension Campaigns {
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a test contact into a campaign (restarted if already inside); its waits last at most scheduler.test_wait (5 minutes by default).")
        @Argument var id: String
        @Option(help: "The test contact's id.") var contact: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("POST", "/v1/campaigns/\(id)/test?contact=\(contact)") }
    }
}

extension Campaigns {
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Entered, active, completed, exited by reason, per step and per version (test journeys left out).")
        @Argument var id: String
        @OptionGroup var admin: AdminOptions
        func run() async throws { try await admin.call("GET", "/v1/campaigns/\(id)/report") }
    }
}
