import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import Prometheus
import ServiceLifecycle

/// Runs date triggers for the shards this process owns: anniversaries (month and
/// day of a date attribute; 29 February is celebrated on 28 February in other
/// years), exact dates, and daily triggers (every member of the campaign's list,
/// when the trigger's condition holds).
///
/// Once a day per shard, campaign and trigger, at or after the trigger's `at` in the
/// campaign's time zone, it reads the shard's index (never a scan of all contacts)
/// and enters each contact with the journey id `<campaign>:<trigger>:<local date>`,
/// so a repeated sweep (after a crash, or by a new owner) enters no one twice. A
/// marker then records the sweep as done for that day.
struct DateSweeper: Service {
    let consumer: KafkaConsumer
    let contacts: ContactStore
    let catalog: CampaignCatalog
    let processor: JourneyProcessor
    let redis: RedisPool
    let interval: Duration
    let duration: ValueHistogram
    let logger: Logger
    /// Beaten each pass and each shard swept (`/healthz`).
    var heartbeat: Heartbeat?

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            heartbeat?.beat()
            let shards = consumer.assignment.filter { $0.topic == Topics.journeys }.map(\.partition).sorted()
            for shard in shards {
                heartbeat?.beat()
                let start = ContinuousClock.now
                do {
                    try await sweep(shard: shard, now: processor.clock.date())
                } catch is NotOwner, is PartitionInDoubt {
                    continue  // the shard's owner (or this process, once trusted again) sweeps it
                } catch {
                    logger.warning("scheduler date sweep of shard \(shard) failed; will retry", metadata: ["herald.error": "\(error)"])
                }
                duration.record(Double((ContinuousClock.now - start).milliseconds) / 1000)
            }
            try? await Task.sleep(for: interval)
        }
    }

    func sweep(shard: Int, now: Date) async throws {
        for (id, entry) in try await catalog.refresh().sorted(by: { $0.key < $1.key }) where entry.state == .active {
            guard let engine = entry.published else { continue }
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZones.named(engine.campaign.timeZone)
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: now)
            guard let year = parts.year, let month = parts.month, let day = parts.day else { continue }
            let minutes = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
            let monthDay = String(format: "%02d-%02d", month, day)
            let localDate = String(format: "%04d-", year) + monthDay
            for (n, trigger) in engine.campaign.triggers.enumerated() {
                let at: TimeOfDay
                let kind: String
                var when: Condition? = nil
                var members: () async throws -> [String]
                switch trigger {
                case .anniversary(let attribute, let time):
                    (at, kind) = (time, "anniversary")
                    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
                    members = {
                        var all = try await contacts.contacts(shard: shard, attribute: attribute, monthDay: monthDay)
                        if monthDay == "02-28" && !leap { all += try await contacts.contacts(shard: shard, attribute: attribute, monthDay: "02-29") }
                        return all
                    }
                case .date(let attribute, let time):
                    (at, kind) = (time, "date")
                    members = { try await contacts.contacts(shard: shard, attribute: attribute, date: localDate) }
                case .daily(let time, let condition):
                    (at, kind, when) = (time, "daily", condition)
                    members = { try await contacts.contacts(shard: shard, list: engine.campaign.list) }
                default:
                    continue
                }
                guard minutes >= at.minutes else { continue }
                let marker = "herald:sweep:\(Shard.hashTag(shard)):\(id):\(n):\(localDate)"
                guard try await redis.execute(["EXISTS", marker]).int == 0 else { continue }
                let list = try await members()
                for contact in list {
                    try await processor.enter(
                        campaignId: id, contactId: contact, id: "\(id):\(kind)\(n):\(localDate)", isTest: false,
                        properties: ["date": .string(localDate), "trigger": .string(kind)], when: when)
                }
                try await redis.execute(["SET", marker, "1", "EX", String(3 * 86_400)])
                if !list.isEmpty {
                    logger.info(
                        "scheduler date sweep entered contacts",
                        metadata: ["herald.campaign": "\(id)", "herald.shard": "\(shard)", "herald.count": "\(list.count)"])
                }
            }
        }
    }
}
