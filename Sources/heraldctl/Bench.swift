import ArgumentParser
import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldKafka
import HeraldRedis
import HeraldService
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// `heraldctl bench`: load generators against a running stack.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks against a running stack (see docs/benchmarks.md).",
        subcommands: [BenchIngest.self, BenchJourneys.self, BenchSend.self, BenchAlerts.self, BenchImport.self, BenchSegments.self, BenchBroadcast.self])
}

/// `heraldctl bench ingest`: the options of `IngestBenchmark` (HeraldDevTools), which does the work.
struct BenchIngest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Measure events/s accepted end to end (Kafka-acknowledged) via HTTP batches and via herald.events.raw, with p50/p99 latency.")
    @Option(help: "API base URL (default: the dev stack's).") var api: String?
    @Option(help: "API key (default: the dev stack's).") var key: String?
    @Option(help: "Broker address (default: HERALD_KAFKA_BOOTSTRAP_SERVERS or the dev stack's).") var bootstrap: String?
    @Option(help: "Seconds of HTTP load.") var seconds = 20
    @Option(help: "Concurrent HTTP requests.") var concurrency = 8
    @Option(help: "Events per HTTP batch.") var batch = 100
    @Option(help: "Events to send through herald.events.raw (0 skips it).") var rawEvents = 500_000
    @Option(help: "Which parts to run: http, raw or both.") var mode = "both"

    func run() async throws {
        try await IngestBenchmark(
            api: api, key: key, bootstrap: bootstrap, seconds: seconds, concurrency: concurrency, batch: batch, rawEvents: rawEvents, mode: mode
        ).run()
    }
}

/// `heraldctl bench import`: the options of `ImportBenchmark` (HeraldDevTools), which does the work.
struct BenchImport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract:
            "Import a generated CSV (8 columns, some invalid rows) end to end, until every valid profile is readable; then count a segment over the address book."
    )
    @Option(help: "Rows to generate.") var rows = 1_000_000
    @Option(help: "Percent of rows with a bad phone.") var invalidPercent = 5
    @Option(help: "API base URL (default: the dev stack's).") var api: String?
    @Option(help: "Admin key (default: the dev stack's).") var adminKey: String?
    @Option(help: "The ingestor's pid, to report its peak RSS.") var ingestorPid: Int32?
    @Option(help: "Partitions (shards) of the stack (the dev stack's default).") var partitions = 24

    func run() async throws {
        var bench = ImportBenchmark(rows: rows, invalidPercent: invalidPercent, api: api, adminKey: adminKey, ingestorPid: ingestorPid, segmentOnly: false)
        bench.partitions = partitions
        try await bench.run()
    }
}

/// `heraldctl bench broadcast`: the options of `BroadcastBenchmark` (HeraldDevTools), which does the work.
struct BenchBroadcast: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broadcast",
        abstract:
            "WhatsApp broadcasts from segments, one per number sharing one portfolio: recipients planned per second, Redis bytes per queued recipient, delivery against the aggregate limit, overshoot per number at the receiver."
    )
    @Option(help: "Recipients in all (contacts created for the run).") var recipients = 1_000_000
    @Option(help: "WhatsApp numbers (one broadcast each).") var numbers = 10
    @Option(help: "Each number's messages per second.") var perSecond = 1_000
    @Option(help: "herald-sender processes the bench starts.") var senders = 1
    @Option(help: "API base URL (default: the dev stack's).") var api: String?
    @Option(help: "Admin key (default: the dev stack's).") var adminKey: String?
    @Option(help: "Kafka bootstrap servers (default: the dev stack's broker).") var bootstrap: String?
    @Flag(help: "Stop after planning (the recipients are cancelled, nothing is sent).") var planOnly = false

    func run() async throws {
        var bench = BroadcastBenchmark(
            recipients: recipients, numbers: numbers, perSecond: perSecond, senders: senders, api: api, adminKey: adminKey, bootstrap: bootstrap)
        bench.planOnly = planOnly
        try await bench.run()
    }
}

/// `heraldctl bench segments`: `ImportBenchmark`'s segment count alone, over what the address book holds.
struct BenchSegments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segments", abstract: "Count a segment of attributes, tags and a purchase window over the whole address book (run bench import first).")
    @Option(help: "API base URL (default: the dev stack's).") var api: String?
    @Option(help: "Admin key (default: the dev stack's).") var adminKey: String?

    func run() async throws {
        try await ImportBenchmark(rows: 0, invalidPercent: 0, api: api, adminKey: adminKey, ingestorPid: nil, segmentOnly: true).run()
    }
}

/// `heraldctl bench alerts`: the options of `AlertsBenchmark` (HeraldDevTools), which does the work.
struct BenchAlerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "Page views per second one alerter evaluates against N rules, and p99 latency from event to SMTP hand-off at a given alert rate.")
    @Option(help: "Alert rules to create (bench-0 … bench-N-1; deleted afterwards).") var rules = 1000
    @Option(help: "Page views for the evaluation phase.") var events = 300_000
    @Option(help: "Distinct contacts of the evaluation phase.") var contacts = 50_000
    @Option(help: "Alerts per second in the latency phase (0: skip it).") var rate = 1000
    @Option(help: "Seconds of the latency phase.") var seconds = 20
    @Option(help: "Broker address (default: the dev stack's).") var bootstrap: String?
    @Option(help: "The alerter's metrics URL.") var alerterMetrics = "http://127.0.0.1:9404/metrics"
    @Option(help: "The sender's metrics URL.") var senderMetrics = "http://127.0.0.1:9403/metrics"
    @Flag(
        help:
            "Produce the evaluation's views first, then start an alerter of the bench's own and time how fast it works through them (run the stack without an alerter: `heraldctl dev --workers ingestor`)."
    )
    var preload = false
    @Option(help: "Partitions of the stack's topics (the dev stack's default; --preload only).") var partitions = 24
    @OptionGroup var admin: AdminOptions

    func validate() throws {
        // The mock broker keeps 5 MB per partition (DESIGN.md): a preloaded backlog
        // must fit, or its oldest views would be gone before the alerter reads them
        // (a new group starts at the oldest kept, so nothing would say so).
        // About 300 bytes a view on the broker, and partitions fill unevenly.
        if preload, events > AlertsBenchmark.preloadLimit(partitions: partitions) {
            throw ValidationError(
                "--preload keeps every view in the broker at once (5 MB per partition): at most \(AlertsBenchmark.preloadLimit(partitions: partitions)) views for \(partitions) partitions"
            )
        }
    }

    func run() async throws {
        try await AlertsBenchmark(
            rules: rules, events: events, contacts: contacts, rate: rate, seconds: seconds, bootstrap: bootstrap, alerterMetrics: alerterMetrics,
            senderMetrics: senderMetrics, preload: preload, partitions: partitions, admin: try admin.endpoint()
        ).run()
    }
}

/// `heraldctl bench journeys`: the options of `JourneysBenchmark` (HeraldDevTools), which does the work.
struct BenchJourneys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journeys",
        abstract: "Load N waiting journeys due at a fixed rate straight into Redis, then measure how late the running scheduler fires them.")
    @Option(help: "Waiting journeys to create.") var count = 1_000_000
    @Option(help: "Wake-ups falling due per second.") var rate = 10_000
    @Option(help: "Redis port of the stack (default: the dev stack's).") var redisPort: Int?
    @Option(help: "Partitions (shards) of the stack.") var partitions = 24
    @Option(help: "Broker address (default: the dev stack's).") var bootstrap: String?
    @OptionGroup var admin: AdminOptions

    func run() async throws {
        try await JourneysBenchmark(count: count, rate: rate, redisPort: redisPort, partitions: partitions, bootstrap: bootstrap, admin: try admin.endpoint())
            .run()
    }
}

/// `heraldctl bench send`: the options of `SendBenchmark` (HeraldDevTools), which does the work.
struct BenchSend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Produce N send requests (webhook or WhatsApp) and measure how fast a sender delivers them to a local provider.")
    @Option(help: "Send requests to produce.") var count = 100_000
    @Option(help: "webhook, or whatsapp (template messages to the Cloud API format; needs --preload or --senders).") var channel = SendBenchmark.Channel.webhook
    @Option(help: "Distinct contacts the requests are spread over (webhook; with whatsapp each request has a contact of its own).") var contacts = 10_000
    @Option(help: "Broker address (default: the dev stack's).") var bootstrap: String?
    @Option(
        help:
            "Overshoot mode: start this many sender processes of its own, sharing --limit (needs the dev stack without its sender: `heraldctl dev --workers ingestor,scheduler,alerter`)."
    )
    var senders = 0
    @Option(help: "Overshoot mode: the channel's limit, messages per second, all senders together.") var limit = 200
    @Option(
        help:
            "With --channel whatsapp: the account's tier, unique recipients per 24 h (default 100,000,000: counted, not binding). Below --count, the bench checks that no more than this many are sent, then watches the held messages for --hold seconds."
    )
    var tier: Int?
    @Option(help: "With a binding --tier: how long to watch the held messages after the tier is used up (seconds).") var hold = 20
    @Option(help: "Partitions of the stack's topics (the dev stack's default).") var partitions = 24
    @Option(
        help:
            "With --preload: run the sender on this CPU only (`taskset -c`), to measure one process with a core of its own; pin the rest elsewhere yourself (docs/benchmarks.md)."
    )
    var senderCPU: Int?
    @Flag(
        help:
            "Produce every request first, then start one sender of its own (limits set high) and time it through the backlog (needs the dev stack without its sender: `heraldctl dev --workers ingestor,scheduler,alerter`)."
    )
    var preload = false

    func validate() throws {
        if channel == .whatsapp, !preload, senders == 0 {
            throw ValidationError(
                "--channel whatsapp needs --preload or --senders: the stack's own sender sends WhatsApp to the sandbox provider, not to this bench")
        }
        if tier != nil, channel != .whatsapp { throw ValidationError("--tier is WhatsApp's unique-recipient limit: use it with --channel whatsapp") }
        if let tier, tier < 1 { throw ValidationError("--tier must be at least 1") }
        if hold < 1 { throw ValidationError("--hold must be at least 1 second") }
        if preload, senders > 0 { throw ValidationError("--preload starts one sender of its own; it does not go with --senders") }
        if senderCPU != nil, !preload { throw ValidationError("--sender-cpu pins the sender that --preload starts: use it with --preload") }
        // The mock broker keeps 5 MB per partition (DESIGN.md); a request is about 400 bytes there.
        if preload, count > 4_000_000 / 400 * partitions {
            throw ValidationError(
                "--preload keeps every request in the broker at once (5 MB per partition): at most \(4_000_000 / 400 * partitions) for \(partitions) partitions"
            )
        }
    }

    func run() async throws {
        try await SendBenchmark(
            count: count, channel: channel, contacts: contacts, bootstrap: bootstrap, senders: senders, limit: limit, tier: tier, hold: hold,
            partitions: partitions, senderCPU: senderCPU, preload: preload
        ).run()
    }
}

extension SendBenchmark.Channel: ExpressibleByArgument {}
