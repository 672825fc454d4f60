import ArgumentParser
import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldRedis
import Logging

/// `heraldctl templates sync`: reads the WhatsApp template catalogue from the
/// provider (`GET /{version}/{waba-id}/message_templates`, every page) and stores
/// name, language, status and parameter count where the senders look before an
/// attempt.
struct Templates: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "WhatsApp message templates.", subcommands: [Sync.self])

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Synchronise the WhatsApp template catalogue from the provider.")
        @Option(help: "WhatsApp Cloud API base URL (https://graph.facebook.com, or the sandbox).") var apiURL = "http://127.0.0.1:8090"
        @Option(help: "Graph API version.") var version = "v21.0"
        @Option(help: "WhatsApp Business Account id.") var waba = "sandbox-waba"
        @Option(help: "Access token.") var token = "sandbox-token"
        @OptionGroup var redis: Limits.RedisOption

        func run() async throws {
            let client = HTTPClient(concurrency: 1)
            var url: String? = "\(apiURL)/\(version)/\(waba)/message_templates?limit=100"
            var entries: [WhatsAppCatalog.Entry] = []
            while let next = url {
                let r = try await client.get(next, headers: [("Authorization", "Bearer \(token)")])
                guard r.status == 200, let json = try? JSONValue.parse(r.body) else {
                    throw CLIError("GET \(next): HTTP \(r.status) \(String(r.bodyText.prefix(300)))")
                }
                for t in json["data"]?.arrayValue ?? [] {
                    guard let name = t["name"]?.stringValue, let language = t["language"]?.stringValue else { continue }
                    let body = t["components"]?.arrayValue?.first { $0["type"] == "BODY" }?["text"]?.stringValue ?? ""
                    entries.append(
                        .init(
                            name: name, language: language, status: t["status"]?.stringValue ?? "UNKNOWN",
                            parameters: Self.parameterCount(body), category: t["category"]?.stringValue ?? ""))
                }
                url = json["paging"]?["next"]?.stringValue
            }
            let pool = try redis.pool()
            try await WhatsAppCatalog(redis: pool).replace(with: entries)
            print("synchronised \(entries.count) WhatsApp templates:")
            for e in entries.sorted(by: { ($0.name, $0.language) < ($1.name, $1.language) }) {
                print("  \(e.name) [\(e.language)] \(e.status), \(e.parameters) parameter\(e.parameters == 1 ? "" : "s"), \(e.category)")
            }
            // A template that can no longer be sent pauses the broadcasts using it, as its
            // status webhook would (the shard count matters only to recipients, unused here).
            let broadcasts = BroadcastStore(redis: pool, partitions: 1)
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            for e in entries where e.status != "APPROVED" {
                let update = ProviderStatus.TemplateUpdate(
                    name: e.name, language: e.language, status: e.status, quality: nil, reason: "found by templates sync")
                for id in try await broadcasts.pauseUsing(template: e.name, language: e.language, reason: update.description, now: now) {
                    print("paused broadcast \(id): \(update.description)")
                }
            }
            await pool.close()
        }

        /// Distinct `{{n}}` placeholders in a template body.
        static func parameterCount(_ body: String) -> Int {
            var found: Set<Int> = []
            var rest = Substring(body)
            while let open = rest.range(of: "{{") {
                rest = rest[open.upperBound...]
                guard let close = rest.range(of: "}}") else { break }
                if let n = Int(rest[..<close.lowerBound].trimmingCharacters(in: .whitespaces)) { found.insert(n) }
                rest = rest[close.upperBound...]
            }
            return found.count
        }
    }
}
