import Foundation
import HeraldChannels
import HeraldCore
import HeraldKafka
import HeraldRedis
import HeraldService
import Logging
import Synchronization

/// `heraldctl bench send`: messages per second through a sender to a local
/// provider in this process (`BenchReceiver`: it answers at once), with the
/// sender's limit checks on (set high so they do not bind). Webhooks by default;
/// `--channel whatsapp` sends WhatsApp Cloud API template messages, each to a
/// contact of its own, under the per-number rate, the per-recipient interval and
/// the unique-recipient tier.
public struct SendBenchmark: Sendable {
    /// `heraldctl bench send --count` (its `--help` says what it does).
    public var count: Int = 100_000
    /// `heraldctl bench send --channel` (its `--help` says what it does).
    public var channel: Channel = Channel.webhook
    /// `heraldctl bench send --contacts` (its `--help` says what it does).
    public var contacts: Int = 10_000
    /// `heraldctl bench send --bootstrap` (its `--help` says what it does).
    public var bootstrap: String?
    /// `heraldctl bench send --senders` (its `--help` says what it does).
    public var senders: Int = 0
    /// `heraldctl bench send --limit` (its `--help` says what it does).
    public var limit: Int = 200
    /// `heraldctl bench send --tier` (its `--help` says what it does).
    public var tier: Int?
    /// `heraldctl bench send --hold` (its `--help` says what it does).
    public var hold: Int = 20
    /// `heraldctl bench send --partitions` (its `--help` says what it does).
    public var partitions: Int = 24
    /// `heraldctl bench send --sender-cpu` (its `--help` says what it does).
    public var senderCPU: Int?
    /// `heraldctl bench send --preload` (its `--help` says what it does).
    public var preload: Bool = false

    /// Options as `heraldctl` parsed them; the defaults are the flags'.
    public init(
        count: Int = 100_000, channel: Channel = Channel.webhook, contacts: Int = 10_000, bootstrap: String? = nil, senders: Int = 0, limit: Int = 200,
        tier: Int? = nil, hold: Int = 20, partitions: Int = 24, senderCPU: Int? = nil, preload: Bool = false
    ) {
        self.count = count
        self.channel = channel
        self.contacts = contacts
        self.bootstrap = bootstrap
        self.senders = senders
        self.limit = limit
        self.tier = tier
        self.hold = hold
        self.partitions = partitions
        self.senderCPU = senderCPU
        self.preload = preload
    }

    /// The channels the bench drives (`--channel`).
    public enum Channel: String, Sendable, CaseIterable {
        case webhook, whatsapp

        /// The send record's channel.
        var sendChannel: HeraldCore.Channel { self == .whatsapp ? .whatsapp : .webhook }
    }

    /// A request's contact: webhooks spread over `--contacts`; WhatsApp messages
    /// one per contact, as a campaign's are (the per-recipient interval, one
    /// message per 6 s, would hold a contact's second message).
    func contact(_ i: Int) -> String { "bench-send-\(channel == .whatsapp ? i : i % contacts)" }

    /// A bench contact's phone number (E.164); the receiver reports its digits.
    static func phone(_ i: Int) -> String { "+1\(2_000_000_000 + i)" }

    /// Request `i`'s send id in run `run`.
    static func sendId(_ i: Int, run: String) -> String { "bench-send-\(run):\(i)" }

    /// What the receiver reports for request `i`: its send id (the webhook's
    /// `Idempotency-Key`) or its recipient's digits (WhatsApp's `to`).
    func receiptKey(_ i: Int, run: String) -> String { channel == .whatsapp ? String(Self.phone(i).dropFirst()) : Self.sendId(i, run: run) }

    /// Runs the bench and prints its figures.
    public func run() async throws {
        var logger = Logger(label: "heraldctl.bench")
        logger.logLevel = .warning
        let servers = try resolveBootstrap(bootstrap)
        let counter = ReceiptCounter()
        let receiver = try BenchReceiver(channel == .whatsapp ? .whatsApp : .webhook) { counter.received(id: $0) }
        defer { receiver.stop() }
        let port = receiver.port

        // The bench's own senders must be the only ones: the stack's would take
        // requests as they are produced, with limits of its own.
        if senders > 0 || preload, cpuSeconds(processNamed: "herald-sender") != nil {
            throw CLIError(
                "--senders and --preload start senders of their own, and one is already running: start the dev stack without it, `heraldctl dev --workers ingestor,scheduler,alerter`"
            )
        }
        let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        // A WhatsApp account of its own per run: its 24-hour window starts empty.
        let account = "bench-\(run)"
        if channel == .whatsapp { try await prepareWhatsApp() }
        var fleet: [ChildProcess] = []
        if senders > 0 { fleet = try await startSenders(servers, count: senders, limit: limit, port: port, account: account) }
        defer { for child in fleet { child.signal(SIGKILL) } }

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: servers, clientId: "bench-send-\(run)"), logger: logger)
        // The sender's own CPU per message says what one process does with a core
        // to itself; here it shares two with Redis, the broker and the receiver.
        var cpuBefore = cpuSeconds(processNamed: "herald-sender")
        let produceStart = ContinuousClock.now
        for start in stride(from: 0, to: count, by: 10_000) {
            let records = (start..<min(count, start + 10_000)).map { i -> KafkaOutgoingRecord in
                var r = SendRequest(
                    id: Self.sendId(i, run: run), contactId: contact(i), campaignId: "bench-send-\(run)", channel: channel.sendChannel,
                    template: channel == .whatsapp ? Self.whatsAppTemplate : "http://127.0.0.1:\(port)/hook", category: "promo")
                if channel == .whatsapp { r.event = ["order_id": .string("B-\(i)")] }
                return KafkaOutgoingRecord(topic: Topics.sends, key: r.contactId, value: r.json.serialized())
            }
            for case .failure(let error) in await producer.send(records) { throw error }
        }
        await producer.close()
        print(
            String(format: "produced %d %@ send requests in %.1f s", count, channel.rawValue, Double((ContinuousClock.now - produceStart).milliseconds) / 1000))
        fflush(nil)
        if preload {
            // Limits as high as the dev stack's: checked on every message, never binding.
            fleet = try await startSenders(servers, count: 1, limit: 1_000_000, port: port, account: account, settle: false)
            cpuBefore = cpuSeconds(processNamed: "herald-sender")
        }
        // What the rest of the machine spent: on two cores, Redis and this
        // receiver share the one the sender does not have.
        let redisPort = devRedisPort()
        let redisBefore = await redisCPUSeconds(port: redisPort)
        let receiverBefore = receiver.cpuSeconds
        // A binding tier lets only that many recipients through (each request has its own).
        let expected = min(count, tier ?? count)
        let deadline = ContinuousClock.now + .seconds(Int64(expected / (senders > 0 ? max(1, limit / 2) : 500) + 60))
        while counter.count < expected && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        let (n, first, last) = counter.snapshot()
        let span = Double((last - first).milliseconds) / 1000
        print(
            String(
                format: "received %d of %d %@; %.0f messages/s (first to last receipt, %.1f s)", n, expected,
                channel == .whatsapp ? "WhatsApp messages" : "webhooks", Double(n) / max(span, 0.001), span))
        if senders == 0, let c0 = cpuBefore, let c1 = cpuSeconds(processNamed: "herald-sender"), c1 > c0 {
            print(
                String(
                    format: "herald-sender used %.1f CPU-s: %.0f µs per message, %.0f messages per CPU-second", c1 - c0, (c1 - c0) * 1e6 / Double(max(n, 1)),
                    Double(n) / (c1 - c0)))
        }
        if let r0 = redisBefore, let r1 = await redisCPUSeconds(port: redisPort) {
            let main = r1.main - r0.main
            let children = r1.children - r0.children
            print(
                String(
                    format: "redis-server used %.1f CPU-s meanwhile: %.0f µs per message (every client's work, not only the sender's)%@", main,
                    main * 1e6 / Double(max(n, 1)),
                    children > 0 ? String(format: ", and %.1f CPU-s in append-only-file rewrites", children) : ""))
        }
        if let r0 = receiverBefore, let r1 = receiver.cpuSeconds {
            print(String(format: "the bench's receiver used %.2f CPU-s: %.0f µs per message", r1 - r0, (r1 - r0) * 1e6 / Double(max(n, 1))))
        }
        if senders > 0 {
            // Receipts by send id, whatever the receiver reported.
            let ids = Dictionary(uniqueKeysWithValues: (0..<count).map { (receiptKey($0, run: run), Self.sendId($0, run: run)) })
            let receipts = Dictionary(counter.receipts().compactMap { key, t in ids[key].map { ($0, t) } }, uniquingKeysWith: min)
            try await reportOvershoot(ids: (0..<count).map { (contact($0), Self.sendId($0, run: run)) }, receipts: receipts)
        }
        if let tier, tier < count { try await watchHeld(tier: tier, account: account, campaign: "bench-send-\(run)", counter: counter) }
        for child in fleet { _ = await child.stop(grace: .seconds(20)) }
        fflush(nil)
    }

    /// Redis's CPU seconds so far (`INFO cpu`, user + system): its own threads, and
    /// the background processes it forked and reaped (append-only-file rewrites);
    /// nil without a dev stack.
    func redisCPUSeconds(port: Int?) async -> (main: Double, children: Double)? {
        guard let port else { return nil }
        let redis = RedisPool(configuration: RedisConfiguration(host: "127.0.0.1", port: port), logger: Logger(label: "bench"))
        let reply = try? await redis.execute(["INFO", "cpu"]).string
        await redis.close()
        guard let info = reply else { return nil }
        let fields = Dictionary(
            info.split(whereSeparator: \.isNewline).compactMap { line -> (String, Double)? in
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let value = Double(parts[1].trimmingCharacters(in: .whitespaces)) else { return nil }
                return (String(parts[0]), value)
            }, uniquingKeysWith: { a, _ in a })
        guard let user = fields["used_cpu_user"], let system = fields["used_cpu_sys"] else { return nil }
        return (user + system, (fields["used_cpu_user_children"] ?? 0) + (fields["used_cpu_sys_children"] ?? 0))
    }

    /// The WhatsApp template the bench sends: in the dev stack's `config/templates`
    /// and its synced catalogue (the sandbox reports it approved, two parameters).
    static let whatsAppTemplate = "order-update"

    /// Gives every bench contact a phone number and a first name (the template's
    /// first parameter), and checks that the template can be sent.
    func prepareWhatsApp() async throws {
        guard let redisPort = devRedisPort() else {
            throw CLIError("no dev stack found (.herald/dev/redis.port): start `heraldctl dev --workers ingestor,scheduler,alerter`")
        }
        let redis = RedisPool(configuration: RedisConfiguration(host: "127.0.0.1", port: redisPort), logger: Logger(label: "bench"))
        let entry = try await WhatsAppCatalog(redis: redis).entries()["\(Self.whatsAppTemplate)|en"]
        guard entry?.status == "APPROVED" else {
            throw CLIError(
                "WhatsApp template '\(Self.whatsAppTemplate)' (en) is \(entry?.status ?? "not in the synced catalogue"): the dev stack syncs it at start (heraldctl templates sync)"
            )
        }
        let store = ContactStore(redis: redis, partitions: partitions)
        let now = nowMilliseconds()
        for start in stride(from: 0, to: count, by: 1_000) {
            try await store.apply(
                (start..<min(count, start + 1_000)).map { i in
                    var change = ContactChange()
                    change.fields["phone"] = .string(Self.phone(i))
                    change.attributes["first_name"] = "Ada"
                    return (contact(i), change)
                }, now: now)
        }
    }

    /// Starts `count` herald-sender processes on the dev stack's broker and
    /// Redis, with the channel's limit at `limit` and its provider at this bench's
    /// receiver, and waits until they are ready and (with `settle`) the group has
    /// settled.
    func startSenders(
        _ bootstrap: String, count senders: Int, limit: Int, port: Int, account: String, settle: Bool = true, extraEnvironment: [String: String] = [:]
    ) async throws -> [ChildProcess] {
        guard let redisPort = devRedisPort(), let secret = try? String(contentsOfFile: "\(DevPaths.root)/webhook-secret", encoding: .utf8) else {
            throw CLIError("no dev stack found (.herald/dev/redis.port, webhook-secret): start `heraldctl dev --workers ingestor,scheduler,alerter`")
        }
        var environment = [
            "HERALD_KAFKA_BOOTSTRAP_SERVERS": bootstrap, "HERALD_KAFKA_PARTITIONS": String(partitions), "HERALD_REDIS_PORT": String(redisPort),
            "HERALD_SENDER_WEBHOOK_SECRET": secret.trimmingCharacters(in: .whitespacesAndNewlines),
            "HERALD_LIMITS_WEBHOOK_PER_SECOND": String(limit), "HERALD_LIMITS_MARKETING_PER_CONTACT_PER_DAY": "1000000",
        ]
        if channel == .whatsapp {
            environment.merge([
                "HERALD_SENDER_WHATSAPP_API_URL": "http://127.0.0.1:\(port)", "HERALD_SENDER_WHATSAPP_PHONE_NUMBER_ID": account,
                "HERALD_SENDER_WHATSAPP_TOKEN": "bench", "HERALD_SENDER_TEMPLATES_DIR": FileManager.default.currentDirectoryPath + "/config/templates",
                "HERALD_LIMITS_WHATSAPP_PER_SECOND": String(limit), "HERALD_LIMITS_WHATSAPP_TIER": String(tier ?? 100_000_000),
            ]) { $1 }
        }
        environment.merge(extraEnvironment) { $1 }
        var fleet: [ChildProcess] = []
        let client = HTTPClient(concurrency: 2)
        for i in 0..<senders {
            let metricsPort = freeTCPPort()
            environment["HERALD_SENDER_METRICS_PORT"] = String(metricsPort)
            fleet.append(
                try await startBenchWorker(
                    "herald-sender", log: "bench-sender-\(i)", metricsPort: metricsPort, environment: environment, cpu: senderCPU, client: client))
        }
        if settle { try await Task.sleep(for: .seconds(5)) }  // every member owns partitions before anything is produced
        print("started \(senders) herald-sender process\(senders == 1 ? "" : "es") sharing a \(channel.rawValue) limit of \(limit)/s")
        return fleet
    }

    /// With a tier below `--count`: how many recipients the account reached (the
    /// tier is the most allowed), what the held messages cost Redis while they
    /// wait (`--hold` seconds of script calls), and how fast `setTier` releases
    /// them when the tier is raised to `--count`.
    func watchHeld(tier: Int, account: String, campaign: String, counter: ReceiptCounter) async throws {
        guard let redisPort = devRedisPort() else { return }
        let redis = RedisPool(configuration: RedisConfiguration(host: "127.0.0.1", port: redisPort), logger: Logger(label: "bench"))
        let limiter = RateLimiter(redis: redis)
        let store = MessageStore(redis: redis, partitions: partitions)
        let now = { nowMilliseconds() }
        let reached = try await limiter.recipients(account: account, now: now())
        print(
            "tier \(tier): \(reached) unique recipients in the account's 24-hour window, \(counter.count) received: overshoot \(max(0, max(reached, counter.count) - tier))"
        )
        // Messages held by the rate come back at their turns (up to count / limit
        // seconds after the start) and are then held by the cap: wait for those
        // first, so that what is watched is the cap's holds alone.
        let settle = count / max(1, limit) + 2
        print("waiting \(settle) s for the rate's turns to pass")
        try await Task.sleep(for: .seconds(settle))
        // A held message that came back would go through the limit script and be
        // parked again: a state write (HSET) each time. Script calls also count
        // the rest of the stack's (the other workers, idle: a few dozen a second).
        let before = try await commandCalls(redis)
        try await Task.sleep(for: .seconds(hold))
        let held = try await store.states(campaign: campaign)["retry_scheduled"] ?? 0
        let after = try await commandCalls(redis)
        let delta = { (command: String) in (after[command] ?? 0) - (before[command] ?? 0) }
        print(
            "held for \(hold) s: \(held) messages waiting (retry_scheduled), \(counter.count - tier) more received; meanwhile Redis ran \(delta("hset")) HSET (state writes) and \(delta("evalsha")) EVALSHA (all the stack's scripts)"
        )
        let raised = ContinuousClock.now
        let released = try await limiter.setTier(account: account, limit: count)
        while counter.count < count && ContinuousClock.now - raised < .seconds(count / max(1, limit / 2) + 60) { try await Task.sleep(for: .milliseconds(50)) }
        print(
            String(
                format: "tier raised to %d: %d held messages brought forward; %d of %d received %.1f s after the raise", count, released, counter.count, count,
                Double((ContinuousClock.now - raised).milliseconds) / 1000))
    }

    /// Calls per command the server has run so far (`INFO commandstats`), e.g. `evalsha`.
    func commandCalls(_ redis: RedisPool) async throws -> [String: Int] {
        let info = try await redis.execute(["INFO", "commandstats"]).string ?? ""
        var out: [String: Int] = [:]
        for line in info.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_") {
            guard let colon = line.firstIndex(of: ":"), let calls = line[colon...].split(separator: ",").first?.split(separator: "=").last else { continue }
            out[String(line[line.index(line.startIndex, offsetBy: 8)..<colon])] = Int(calls)
        }
        return out
    }

    /// The worst second, by when each message took its limit slot (`attempt_ms`,
    /// Redis's record of the claim) and by when the receiver got it.
    func reportOvershoot(ids: [(contact: String, id: String)], receipts: [String: Int64]) async throws {
        guard let redisPort = devRedisPort() else { return }
        let store = MessageStore(
            redis: RedisPool(configuration: RedisConfiguration(host: "127.0.0.1", port: redisPort), logger: Logger(label: "bench")), partitions: partitions)
        var starts: [String: Int64] = [:]
        for chunk in stride(from: 0, to: ids.count, by: 200).map({ ids[$0..<min(ids.count, $0 + 200)] }) {
            try await withThrowingTaskGroup(of: (String, Int64?).self) { group in
                for (contact, id) in chunk { group.addTask { (id, try await store.message(contactId: contact, id: id)?["attempt_ms"].flatMap { Int64($0) }) } }
                for try await (id, t) in group { if let t { starts[id] = t } }
            }
        }
        let claimed = SlidingWindow.most(starts.values.sorted(), width: 1000)
        let received = SlidingWindow.most(receipts.values.sorted(), width: 1000)
        let delays = starts.compactMap { id, t in receipts[id].map { $0 - t } }.sorted()
        print(
            "most calls started in any 1 s window: \(claimed) (limit \(limit)): overshoot \(max(0, claimed - limit)) — from attempt_ms of \(starts.count) messages"
        )
        print("most messages received in any 1 s window: \(received): overshoot \(max(0, received - limit)) at the receiver")
        if !delays.isEmpty {
            print("limit slot taken → message received: p50 \(delays[delays.count / 2]) ms, p99 \(delays[delays.count * 99 / 100]) ms, max \(delays.last!) ms")
        }
    }
}

/// Counts receipts and remembers when each came.
final class ReceiptCounter: Sendable {
    private let state = Mutex<(count: Int, first: ContinuousClock.Instant?, last: ContinuousClock.Instant?, receipts: [String: Int64])>((0, nil, nil, [:]))

    /// - Parameter id: the send id (`Idempotency-Key`); its wall-clock receipt time is kept.
    func received(id: String) {
        let now = ContinuousClock.now
        let wall = nowMilliseconds()
        state.withLock { s in
            s.count += 1
            if s.first == nil { s.first = now }
            s.last = now
            s.receipts[id] = wall
        }
    }

    /// Send id → wall-clock ms of receipt.
    func receipts() -> [String: Int64] { state.withLock { $0.receipts } }

    var count: Int { state.withLock { $0.count } }

    func snapshot() -> (Int, ContinuousClock.Instant, ContinuousClock.Instant) {
        state.withLock { s in (s.count, s.first ?? .now, s.last ?? .now) }
    }
}
