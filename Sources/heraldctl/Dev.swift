import ArgumentParser
import Foundation
import Glibc
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldService

/// `heraldctl dev`: the options of `DevStack` (HeraldDevTools), which does the work.
struct Dev: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the embedded broker, redis-server and the four workers; Ctrl-C stops them all.",
        discussion: "State and logs live under .herald/dev/ in the working directory.")
    @Option(help: "Partitions of each topic.") var partitions = 24
    @Option(help: "Port of the events API.") var apiPort = 8080
    @Option(help: "First of the four metrics ports (ingestor, scheduler, sender, alerter).") var metricsPort = 9401
    @Flag(help: "After start-up, post demo events and show them read back from herald.events.") var demo = false
    @Option(help: "Workers to start (comma-separated): to measure one worker alone, e.g. --workers ingestor for `bench ingest`.")
    var workers = Worker.allCases.map(\.rawValue).joined(separator: ",")
    @Flag(help: "Stop right after start-up (and the demo): for scripts and CI.") var exitAfterStart = false
    @Option(help: "Directory the SMTP sink writes each email to, emptied at start (benchmarks: one on tmpfs, see docs/benchmarks.md).")
    var outbox = DevPaths.outbox

    func run() async throws {
        try await DevStack(
            partitions: partitions, apiPort: apiPort, metricsPort: metricsPort, demo: demo, workers: workers, exitAfterStart: exitAfterStart, outbox: outbox
        ).run()
    }
}
