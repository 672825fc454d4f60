import ArgumentParser
import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldService
import Hummingbird
import Logging
import Synchronization

/// `heraldctl sandbox`: the options of `SandboxProvider` (HeraldDevTools), which does the work.
struct Sandbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a local WhatsApp Cloud API / Twilio stand-in.")
    @Option(help: "Port to listen on.") var port = 8090
    @Option(help: "Numbers to refuse: WhatsApp 131026 (undeliverable), Twilio 21211 (invalid 'To').") var reject: [String] = []
    @Option(help: "Answer the first N requests of each API as throttled (WhatsApp 130429, Twilio 429/20429).") var throttleFirst = 0
    @Option(help: "Write the bound port to this file once listening.") var portFile: String?
    @Option(help: "Where to POST WhatsApp status webhooks (e.g. http://127.0.0.1:8080/v1/status/whatsapp).") var whatsappCallback: String?
    @Option(help: "App secret that signs the WhatsApp status webhooks (X-Hub-Signature-256).") var appSecret = ""
    @Option(help: "Milliseconds to wait before answering a message request that was taken (its statuses still go out at once), as a slow provider would.")
    var answerDelay = 0
    @Option(help: "Numbers that had their share of marketing: WhatsApp 131049 (the per-user marketing limit).") var marketingLimited: [String] = []
    @Option(help: "After N messages from one phone number id, answer WhatsApp 131048 (spam rate limit) for every further one; 0: never.")
    var spamLimitAfter = 0
    @Option(help: "The business portfolio's messaging limit the Graph API reports (TIER_250, TIER_2K, TIER_10K, TIER_100K, TIER_UNLIMITED).")
    var messagingLimit = "TIER_2K"

    func run() async throws {
        try await SandboxProvider(
            port: port, reject: reject, throttleFirst: throttleFirst, portFile: portFile, whatsappCallback: whatsappCallback, appSecret: appSecret,
            answerDelay: answerDelay, marketingLimited: marketingLimited, spamLimitAfter: spamLimitAfter,
            messagingLimit: messagingLimit
        ).run()
    }
}
