import ArgumentParser
import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldRedis
import Logging

/// `heraldctl limits`: limits that change at run time.
struct Limits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or change run-time limits (WhatsApp messaging tiers, accounts stopped by the provider).",
        subcommands: [SetTier.self, Sync.self, Show.self, Stopped.self, Resume.self])

    struct RedisOption: ParsableArguments {
        @Option(help: "Redis port (default: the dev stack's).") var redisPort: Int?
        @Option(help: "Redis host.") var redisHost = "127.0.0.1"

        func pool() throws -> RedisPool {
            guard let port = redisPort ?? devRedisPort() else {
                throw CLIError("no Redis port: pass --redis-port or start `heraldctl dev`")
            }
            var logger = Logger(label: "heraldctl")
            logger.logLevel = .warning
            return RedisPool(configuration: RedisConfiguration(host: redisHost, port: port), logger: logger)
        }
    }

    struct SetTier: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-tier",
            abstract:
                "Set a WhatsApp phone number's unique-recipient limit per rolling 24 hours; every sender applies it at once, and messages held by the old tier are looked at again now."
        )
        @Option(help: "The WhatsApp phone number id (sender.whatsapp_phone_number_id).") var account: String
        @Option(help: "250, 1000, 2000, 10000, 100000 or unlimited.") var tier: String
        @OptionGroup var redis: RedisOption

        func run() async throws {
            let limits: [String: Int] = ["250": 250, "1000": 1000, "2000": 2000, "10000": 10_000, "100000": 100_000, "unlimited": 0]
            guard let limit = limits[tier.lowercased().replacingOccurrences(of: ",", with: "").replacingOccurrences(of: "k", with: "000")] else {
                throw CLIError("tier '\(tier)' is not one of 250, 1000, 2000, 10000, 100000, unlimited")
            }
            let pool = try redis.pool()
            let released = try await RateLimiter(redis: pool).setTier(account: account, limit: limit)
            await pool.close()
            print("WhatsApp \(account): \(limit == 0 ? "unlimited" : "\(limit)") unique recipients per rolling 24 hours")
            if released > 0 { print("\(released) message\(released == 1 ? "" : "s") held by the old tier will be looked at again now") }
        }
    }

    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Read a phone number's business portfolio messaging limit from Meta (whatsapp_business_manager_messaging_limit) and apply it to the portfolio for every sender."
        )
        @Option(help: "WhatsApp Cloud API base URL (https://graph.facebook.com, or the sandbox).") var apiURL = "http://127.0.0.1:8090"
        @Option(help: "Graph API version.") var version = "v21.0"
        @Option(help: "A phone number id of the portfolio.") var phoneNumberId: String
        @Option(help: "The portfolio as the account files name it (default: the phone number id).") var portfolio: String?
        @Option(help: "Access token (default: HERALD_WHATSAPP_TOKEN).") var token: String?
        @OptionGroup var redis: RedisOption

        func run() async throws {
            guard let token = token ?? ProcessInfo.processInfo.environment["HERALD_WHATSAPP_TOKEN"], !token.isEmpty else {
                throw CLIError("no access token: pass --token or set HERALD_WHATSAPP_TOKEN")
            }
            let url = "\(apiURL)/\(version)/\(phoneNumberId)?fields=whatsapp_business_manager_messaging_limit"
            let r = try await HTTPClient(concurrency: 1).get(url, headers: [("Authorization", "Bearer \(token)")])
            guard r.status == 200, let tier = (try? JSONValue.parse(r.body))?["whatsapp_business_manager_messaging_limit"]?.stringValue else {
                throw CLIError("GET \(url): HTTP \(r.status) \(String(r.bodyText.prefix(300)))")
            }
            guard let limit = WhatsAppProvider.messagingLimit(tier) else {
                throw CLIError("Meta reported messaging limit '\(tier)', which Herald does not know")
            }
            let account = portfolio ?? phoneNumberId
            let pool = try redis.pool()
            let released = try await RateLimiter(redis: pool).setTier(account: account, limit: limit)
            await pool.close()
            print("WhatsApp \(account): \(tier) from Meta, \(limit == 0 ? "unlimited" : "\(limit)") unique recipients per rolling 24 hours")
            if released > 0 { print("\(released) message\(released == 1 ? "" : "s") held by the old tier will be looked at again now") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a WhatsApp phone number's tier as set at run time.")
        @Option(help: "The WhatsApp phone number id.") var account: String
        @OptionGroup var redis: RedisOption

        func run() async throws {
            let pool = try redis.pool()
            let tier = try await RateLimiter(redis: pool).tier(account: account)
            await pool.close()
            print(
                tier.map { "WhatsApp \(account): \($0 == 0 ? "unlimited" : "\($0)") unique recipients per rolling 24 hours" }
                    ?? "WhatsApp \(account): not set at run time (limits.whatsapp_tier applies)")
        }
    }

    struct Stopped: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sending accounts the provider stopped (WhatsApp 131048, spam rate limit): since when and why.")
        @OptionGroup var redis: RedisOption

        func run() async throws {
            let pool = try redis.pool()
            let stopped = try await RateLimiter(redis: pool).stoppedAccounts()
            await pool.close()
            if stopped.isEmpty { print("no account is stopped") }
            for (key, s) in stopped.sorted(by: { $0.key < $1.key }) { print("\(key)  since \(RFC3339.format(milliseconds: s.since))  \(s.reason)") }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Let a stopped account send again (after the cause is dealt with); its waiting messages go out within sender.park_recheck.")
        @Option(help: "The account as `limits stopped` lists it (whatsapp:<phone number id>).") var account: String
        @OptionGroup var redis: RedisOption

        func run() async throws {
            let pool = try redis.pool()
            let was = try await RateLimiter(redis: pool).resume(account: account)
            await pool.close()
            print(was ? "\(account) may send again" : "\(account) was not stopped")
        }
    }
}
