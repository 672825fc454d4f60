import Foundation
import HeraldChannels
import HeraldCore
import HeraldRedis
import HeraldService
import Logging

/// `heraldctl bench broadcast`: WhatsApp broadcasts to segments (one list each) of the address book, to a local
/// provider (`BenchReceiver`), one broadcast per number, the numbers sharing
/// one business portfolio. Reports how fast the recipients are planned (from
/// the broadcasts' creation until every recipient is `initial`), Redis memory
/// per queued recipient, the delivery rate against the numbers' aggregate
/// limit, the most messages any number had received in one second on the
/// receiver's clock (its overshoot over the limit), and calls per recipient.
///
/// Needs the dev stack without its sender (`heraldctl dev --workers
/// ingestor,scheduler,alerter`): the bench starts senders of its own, with an
/// account file per number.
public struct BroadcastBenchmark: Sendable {
    /// `heraldctl bench broadcast --recipients` (its `--help` says what it does).
    public var recipients = 1_000_000
    /// `heraldctl bench broadcast --numbers` (its `--help` says what it does).
    public var numbers = 10
    /// `heraldctl bench broadcast --per-second` (its `--help` says what it does).
    public var perSecond = 1_000
    /// `heraldctl bench broadcast --senders` (its `--help` says what it does).
    public var senders = 1
    /// `heraldctl bench broadcast --partitions` (its `--help` says what it does).
    public var partitions = 24
    /// `heraldctl bench broadcast --api` (its `--help` says what it does).
    public var api: String?
    /// `heraldctl bench broadcast --admin-key` (its `--help` says what it does).
    public var adminKey: String?
    /// `heraldctl bench broadcast --bootstrap` (its `--help` says what it does).
    public var bootstrap: String?
    /// `heraldctl bench broadcast --plan-only` (its `--help` says what it does).
    public var planOnly = false

    /// Options as `heraldctl` parsed them; the defaults are the flags'.
    public init(recipients: Int, numbers: Int, perSecond: Int, senders: Int, api: String?, adminKey: String?, bootstrap: String?) {
        self.recipients = recipients
        self.numbers = max(1, numbers)
        self.perSecond = perSecond
        self.senders = max(1, senders)
        self.api = api
        self.adminKey = adminKey
        self.bootstrap = bootstrap
    }

    /// Recipient `k`'s phone (E.164); the receiver reports its digits, which name `k` and so its number.
    static func phone(_ k: Int) -> String { "+1\(3_000_000_000 + k)" }

    /// Runs the bench and prints its figures.
    public func run() async throws {
        var logger = Logger(label: "heraldctl.bench")
        logger.logLevel = .warning
        let servers = try resolveBootstrap(bootstrap)
        let endpoint = try AdminEndpoint.resolve(url: api, key: adminKey)
        guard let redisPort = devRedisPort() else { throw CLIError("no dev stack found: start `heraldctl dev --workers ingestor,scheduler,alerter`") }
        if cpuSeconds(processNamed: "herald-sender") != nil {
            throw CLIError("the bench starts senders of its own: start the dev stack without one, `heraldctl dev --workers ingestor,scheduler,alerter`")
        }
        let redis = RedisPool(configuration: RedisConfiguration(host: "127.0.0.1", port: redisPort), logger: logger)
        let numericRun = UInt32.random(in: 1_000_000...UInt32.max)
        let run = String(numericRun, radix: 36)
        let share = (recipients + numbers - 1) / numbers
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(recipients) recipients over \(numbers) numbers at \(perSecond)/s each")

        // The address book: each recipient a contact with a phone, on its number's broadcast's list.
        let contacts = ContactStore(redis: redis, partitions: partitions)
        let t0 = ContinuousClock.now
        for start in stride(from: 0, to: recipients, by: 5_000) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for chunk in stride(from: start, to: min(recipients, start + 5_000), by: 1_000) {
                    group.addTask {
                        try await contacts.apply(
                            (chunk..<min(recipients, chunk + 1_000)).map { k in
                                var change = ContactChange()
                                change.fields["phone"] = .string(Self.phone(k))
                                change.addLists = ["bb-\(run)-\(k / share)"]
                                return ("bb-\(run)-\(k)", change)
                            }, now: nowMilliseconds())
                    }
                }
                try await group.waitForAll()
            }
        }
        print(String(format: "prepared %d contacts in %.1f s", recipients, Self.seconds(since: t0)))

        // One account file per number, one portfolio, its tier unlimited.
        let dir = "\(DevPaths.root)/bench-broadcast-\(run)"
        try FileManager.default.createDirectory(atPath: "\(dir)/whatsapp", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for i in 0..<numbers {
            // Meta's ids are numeric: the run's number and the index.
            try
                "phone_number_id: \"\(numericRun)\(String(format: "%03d", i))\"\ntoken_env: HERALD_BENCH_WA_TOKEN\nper_second: \(perSecond)\nportfolio: bb\(run)\n"
                .write(
                    toFile: "\(dir)/whatsapp/n\(i).yaml", atomically: true, encoding: .utf8)
        }
        _ = try await RateLimiter(redis: redis).setTier(account: "bb\(run)", limit: 0)

        let counter = ReceiptCounter()
        let receiver = try BenchReceiver(.whatsApp) { counter.received(id: $0) }
        defer { receiver.stop() }
        let sendBench = SendBenchmark(channel: .whatsapp, bootstrap: servers, senders: senders, limit: 1_000_000, partitions: partitions)
        let fleet = try await sendBench.startSenders(
            servers, count: senders, limit: 1_000_000, port: receiver.port, account: "bb\(run)default",
            extraEnvironment: [
                "HERALD_SENDER_ACCOUNTS_DIR": dir, "HERALD_BENCH_WA_TOKEN": "bench", "HERALD_SENDER_HTTP_CONNECTIONS": "64",
            ])
        defer { for child in fleet { child.signal(SIGKILL) } }

        // Planning: from the first create until every recipient is initial.
        let memoryBefore = try await ImportBenchmark.usedMemory(redis)
        let ids = (0..<numbers).map { "bb-\(run)-\($0)" }
        for (i, id) in ids.enumerated() {
            // Each audience a segment, as a marketer picks one: the members of its number's list.
            let segment = #"{"id":"\#(id)","where":{"list":"bb-\#(run)-\#(i)"}}"#
            guard try await endpoint.call("POST", "/v1/segments", body: segment, contentType: "application/json", quiet: true) == 201 else {
                throw CLIError("could not create segment \(id)")
            }
        }
        let t1 = ContinuousClock.now
        for (i, id) in ids.enumerated() {
            let body =
                #"{"id":"\#(id)","channel":"whatsapp","template":"order-update","account":"n\#(i)","audience":{"segment":"\#(id)"},"pause_on_error_rate":100}"#
            guard try await endpoint.call("POST", "/v1/broadcasts", body: body, contentType: "application/json", quiet: true) == 201 else {
                throw CLIError("could not create broadcast \(id)")
            }
        }
        let store = BroadcastStore(redis: redis, partitions: partitions)
        while true {
            let records = try await ids.asyncMap { try await store.get($0) }
            if records.allSatisfy({ $0?.adding == nil }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let planning = Self.seconds(since: t1)
        var planned = 0
        for id in ids { planned += try await store.get(id)?.added ?? 0 }
        let memoryAfter = try await ImportBenchmark.usedMemory(redis)
        print(String(format: "planned %d recipients (every one initial) in %.1f s = %.0f recipients/s", planned, planning, Double(planned) / planning))
        print(
            String(
                format: "redis: %.0f bytes per queued recipient (used_memory %d → %d: its message record, indexes and counts)",
                Double(memoryAfter - memoryBefore) / Double(max(planned, 1)), memoryBefore, memoryAfter))

        if planOnly {
            for id in ids { _ = try? await endpoint.call("POST", "/v1/broadcasts/\(id)/cancel", quiet: true) }
            for child in fleet { _ = await child.stop(grace: .seconds(20)) }
            await redis.close()
            return
        }
        // Sending: every broadcast started at once.
        for id in ids { _ = try await endpoint.call("POST", "/v1/broadcasts/\(id)/start", quiet: true) }
        let aggregate = numbers * perSecond
        let deadline = ContinuousClock.now + .seconds(Int64(planned / max(1, aggregate) + 120))
        while counter.count < planned && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(500)) }
        let (n, first, last) = counter.snapshot()
        let span = Double((last - first).milliseconds) / 1000
        let receipts = counter.receipts()
        print(
            String(
                format: "received %d messages (%d distinct recipients) of %d in %.1f s: %.0f messages/s against an aggregate limit of %d/s (%.0f %%)", n,
                receipts.count, planned, span, Double(n) / max(span, 0.001), aggregate, Double(n) / max(span, 0.001) * 100 / Double(aggregate)))
        // Per number, the most receipts in any 1 s window, on the receiver's clock.
        var perNumber: [Int: [Int64]] = [:]
        for (digits, at) in receipts {
            guard let k = Int(digits).map({ $0 - 13_000_000_000 }), k >= 0 else { continue }
            perNumber[k / share, default: []].append(at)
        }
        let most = perNumber.mapValues { SlidingWindow.most($0.sorted(), width: 1000) }
        let worst = most.values.max() ?? 0
        print("most messages one number had received in any 1 s window: \(worst) (limit \(perSecond)): overshoot \(max(0, worst - perSecond))")
        print("calls beyond one per recipient: \(n - receipts.count)")
        for child in fleet { _ = await child.stop(grace: .seconds(20)) }
        // Those the deadline cut short are cancelled; a finished one has nothing left to cancel.
        for id in ids where try await store.get(id)?.state != .finished {
            _ = try? await endpoint.call("POST", "/v1/broadcasts/\(id)/cancel", quiet: true)
        }
        await redis.close()
        fflush(nil)
    }

    static func seconds(since t: ContinuousClock.Instant) -> Double { Double((ContinuousClock.now - t).milliseconds) / 1000 }
}

extension Array {
    /// `transform` of each element, in order, one at a time.
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        out.reserveCapacity(count)
        for e in self { out.append(try await transform(e)) }
        return out
    }
}
