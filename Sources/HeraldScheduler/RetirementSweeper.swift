import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import ServiceLifecycle

/// Ends journeys promptly when their campaign is stopped with `now` or their
/// version is retired with `now` (a publish or rollback with `mode=now`).
///
/// The wake-up path already ends such journeys when they next wake; this service
/// makes their wake-ups due at once, so "now" means now rather than at the end of
/// a two-day wait. Each shard remembers (in Redis) which retirement it already
/// handled, so a restart or a partition that moves does not repeat the scan.
struct RetirementSweeper: Service {
    let consumer: KafkaConsumer
    let catalog: CampaignCatalog
    let journeys: JourneyStore
    let interval: Duration
    let logger: Logger
    var clock = WallClock.system
    /// Beaten each pass (`/healthz`).
    var heartbeat: Heartbeat?

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            heartbeat?.beat()
            do {
                try await sweepOnce()
            } catch {
                logger.warning("scheduler could not expedite retired journeys; will retry", metadata: ["herald.error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// A tag per campaign with journeys to end now: it changes whenever another
    /// version is retired with `now` or the campaign is stopped.
    static func retirements(_ entries: [String: CampaignCatalog.Entry]) -> [String: String] {
        var out: [String: String] = [:]
        for (id, entry) in entries {
            if entry.state == .stopped {
                out[id] = "stopped"
                continue
            }
            let now = entry.retired.filter { $0.value == .now }.map(\.key).sorted()
            if !now.isEmpty { out[id] = "now:" + now.map(String.init).joined(separator: ",") }
        }
        return out
    }

    func sweepOnce() async throws {
        let retirements = Self.retirements(try await catalog.refresh())
        guard !retirements.isEmpty else { return }
        let shards = consumer.assignment.filter { $0.topic == Topics.journeys }.map(\.partition)
        for shard in shards {
            for (campaign, tag) in retirements.sorted(by: { $0.key < $1.key }) {
                guard try await journeys.expedited(shard: shard, campaign: campaign) != tag else { continue }
                let moved = try await journeys.expedite(shard: shard, campaign: campaign, now: clock.now())
                try await journeys.markExpedited(shard: shard, campaign: campaign, tag: tag)
                if moved > 0 {
                    logger.info(
                        "scheduler ends journeys of a retired campaign now",
                        metadata: ["herald.campaign": "\(campaign)", "herald.shard": "\(shard)", "herald.count": "\(moved)"])
                }
            }
        }
    }
}
