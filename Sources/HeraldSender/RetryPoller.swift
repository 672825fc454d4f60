import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging
import ServiceLifecycle

/// Looks again at messages of the shards this sender owns (its `herald.sends`
/// partitions) whose retry is due or whose claim's lease ran out.
///
/// It sleeps until the earliest time a shard is known to fall due (`DueTimes`:
/// for a parked message, its turn at the limit; a message parked while it sleeps
/// wakes it if due sooner), and reads only the shards due then; every `interval`
/// it sweeps all its shards for what this process cannot know (a dead sender's
/// leases, shards just assigned, a tier change).
struct RetryPoller: Service {
    let consumer: KafkaConsumer
    let messages: MessageStore
    let processor: SendProcessor
    /// How often every owned shard is read, and the longest pause.
    let interval: Duration
    /// The shortest pause between reads.
    var minimumPause: Duration = .milliseconds(1)
    let logger: Logger
    /// Beaten each pass (`/healthz`).
    var heartbeat: Heartbeat?

    func run() async throws {
        let clock = ContinuousClock()
        var nextSweep = clock.now
        var nextGauges = clock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            heartbeat?.beat()
            let owned = Set(consumer.assignment.filter { $0.topic == Topics.sends }.map(\.partition))
            let now = processor.clock.now()
            await resumeUnanswered(now: now)
            var shards = processor.dueTimes.take(dueBy: now).filter(owned.contains)
            if clock.now >= nextSweep {
                shards = owned.sorted()
                nextSweep = clock.now + interval
            }
            if clock.now >= nextGauges {
                nextGauges = clock.now + .seconds(5)
                await reportGauges(owned: owned.sorted())
            }
            if !shards.isEmpty {
                do {
                    // These shards at once: one round trip for what is due, one
                    // batch through the processor (one limiter call per wave).
                    let pass = try await messages.due(shards: shards, now: now, limit: 500)
                    for (shard, at) in pass.next { processor.dueTimes.note(shard: shard, at: at) }
                    try await processor.process(pass.requests, texts: pass.texts)
                } catch {
                    // A failure leaves the messages due: the next sweep finds them.
                    logger.warning("sender could not handle due retries; will look again", metadata: ["herald.error": "\(error)"])
                }
            }
            // Wake when the next message falls due — for a parked message, its
            // turn at the limit — not on a fixed tick: a tick's slack, paid at
            // every slot, left a quarter of a spread limit unused (147 of 200/s).
            // A message parked meanwhile with an earlier time (by the consumer:
            // a turn, a quick retry) ends the sleep early (`DueTimes`).
            var until = processor.clock.now() + (nextSweep - clock.now).milliseconds
            if let earliest = processor.dueTimes.earliest { until = min(until, earliest) }
            await processor.dueTimes.sleep(until: until, minimum: minimumPause)
        }
    }

    /// Makes due now this sender's claims that Redis ran without the answer
    /// reaching it (a pause or slowness past the command timeout), so that the
    /// pass below takes them back; a message from `herald.sends` comes back with
    /// its batch's retry anyway, one from a retry set only when its lease ran out.
    func resumeUnanswered(now: Int64) async {
        let claims = processor.unanswered.takeToResume()
        guard !claims.isEmpty else { return }
        do {
            if try await messages.resume(claims, claimant: processor.unanswered.claimant, now: now) > 0 {
                for shard in Set(claims.map(\.shard)) { processor.dueTimes.note(shard: shard, at: now) }
            }
        } catch {
            processor.unanswered.keep(claims)
        }
    }

    /// The retry backlog of the owned shards and the WhatsApp quota left, every
    /// 5 s (a metric is read every 15–60 s; not worth a round trip per wake).
    func reportGauges(owned: [Int]) async {
        do {
            processor.metrics.retryBacklog(try await messages.waiting(shards: owned))
            let account = processor.settings.whatsAppPhoneNumberId
            if !account.isEmpty {
                let limit = try await processor.limiter.tier(account: account) ?? processor.settings.whatsAppTier
                processor.metrics.quota(
                    account: account, limit: limit, used: try await processor.limiter.recipients(account: account, now: processor.clock.now()))
            }
        } catch {
            logger.debug("sender could not read its gauges", metadata: ["herald.error": "\(error)"])
        }
    }
}
