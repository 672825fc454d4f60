import Foundation
import HeraldCore
import HeraldRedis
import Logging
import ServiceLifecycle
import Synchronization

/// The broadcasts' background work, in every ingestor: one planner at a time
/// per broadcast, by a lease in Redis (`BroadcastStore.lease`), so any number of
/// ingestors can run and a dead one's work is taken over when its lease ends.
///
/// For each broadcast with work (`BroadcastStore.workItems`):
/// 1. a scheduled one whose start time came starts;
/// 2. an audience being added is paged through the address book, a chunk at a
///    time: the chunk's recipients are written (`initial`) before the cursor
///    moves past them, so a planner killed mid-way goes on where the last one
///    stopped and never skips anyone; a recipient written twice is one;
/// 3. after a start or a resume, every waiting recipient is made due in the
///    retry sets, where the senders' retry pollers take them; after a cancel,
///    every recipient not yet handed to a provider is `cancelled`;
/// 4. a running one whose recipients are all final is finished.
///
/// Steps 2 and 3 run under one lease in that order, so recipients added while
/// the broadcast was started are released by the start's pass that follows.
public struct BroadcastPlanner: Service {
    let store: BroadcastStore
    let book: AddressBook
    let segments: SegmentStore
    let messages: MessageStore
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system
    /// This process, as lease holder.
    let owner = "planner-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))"
    /// How often the work set is read.
    var interval: Duration = .milliseconds(500)
    /// How long a lease lasts without renewal: a dead planner's work waits this long.
    var lease: Duration = .seconds(30)
    /// Contacts read, and recipients written or passed over, per round trip.
    var chunk = 1_000
    /// Beaten each pass and each chunk (`/healthz`): a million recipients take many seconds, not one beat.
    public var heartbeat: Heartbeat?

    /// A planner over these stores.
    public init(store: BroadcastStore, book: AddressBook, segments: SegmentStore, messages: MessageStore, logger: Logger) {
        self.store = store
        self.book = book
        self.segments = segments
        self.messages = messages
        self.logger = logger
    }

    /// Works until the service group shuts down.
    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            heartbeat?.beat()
            do { try await pass() } catch {
                // Redis down: nothing was lost (cursors move only after their writes); try again.
                logger.warning("broadcast planner could not work; will try again", metadata: ["herald.error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Broadcasts worked on at once in a pass: their round trips overlap, so
    /// ten broadcasts being added are not ten additions one after the other.
    var concurrency = 4

    /// One look at every broadcast with work, `concurrency` at a time.
    func pass() async throws {
        let items = try await store.workItems()
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for id in items {
                if running == concurrency {
                    try await group.next()
                    running -= 1
                }
                group.addTask { try await one(id) }
                running += 1
            }
            try await group.waitForAll()
        }
    }

    /// The work of broadcast `id`, under its lease (skipped while another holds it).
    func one(_ id: String) async throws {
        guard try await store.lease(id, owner: owner, for: lease) else { return }
        do {
            try await work(id)
        } catch {
            try? await store.unlease(id, owner: owner)
            throw error
        }
        try await store.unlease(id, owner: owner)
    }

    /// Renews the lease; false when it was lost (this planner stalled past it).
    func stillMine(_ id: String) async throws -> Bool { try await store.lease(id, owner: owner, for: lease) }

    func work(_ id: String) async throws {
        guard var record = try await store.get(id) else { return try await store.finishWork(id) }
        let now = clock.now()
        if record.state == .scheduled, (record.broadcast.startAt ?? now) <= now {
            _ = try await store.move(id, from: .scheduled, to: .running, now: now, reason: "its start time came", extra: ["release", "1"])
            record = try await store.get(id) ?? record
        }
        if let audience = record.adding {
            if record.state.isFinal {
                try await store.saveProgress(id, cursor: nil, added: record.added)
            } else {
                guard try await add(audience, to: record) else { return }
            }
            record = try await store.get(id) ?? record
        }
        if record.retryFailedPending {
            let release = record.state.sends
            guard
                try await everyRecipient(
                    of: record,
                    { shard, ids in _ = try await store.reopenFailed(record.broadcast, shard: shard, sendIds: ids, release: release, now: clock.now()) })
            else { return }
            try await store.clear("retry_failed", of: id)
            try await setBaseline(record)
        }
        if record.releasePending && record.state == .running {
            // Everyone the window already passed and still waiting: held by a
            // pause, or added behind a cursor. Those after the cursors wait their turn.
            guard
                try await everyRecipient(
                    of: record, through: record.cursors, { shard, ids in _ = try await store.release(shard: shard, sendIds: ids, now: clock.now()) })
            else { return }
            try await store.clear("release", of: id)
            try await setBaseline(record)
            record = try await store.get(id) ?? record
        }
        if record.state == .running { try await releaseWindow(record) }
        if record.cancelPending {
            guard try await everyRecipient(of: record, { shard, ids in try await cancelWaiting(record.broadcast, shard: shard, ids) }) else { return }
            try await store.clear("cancel", of: id)
        }
        if record.state == .running {
            let counts = try await store.counts(record.broadcast)
            if let why = Self.autoPause(record, counts) {
                if case .moved = try await store.move(id, from: .running, to: .paused, now: clock.now(), reason: why) {
                    logger.warning("broadcast paused by its error rate", metadata: ["herald.broadcast": "\(id)", "herald.reason": "\(why)"])
                }
            } else if record.adding == nil && !counts.contains(where: { !$0.key.isFinal && $0.value > 0 }) {
                _ = try await store.move(id, from: .running, to: .finished, now: clock.now(), reason: "every recipient reached a final state")
                logger.info("broadcast finished", metadata: ["herald.broadcast": "\(id)"])
            }
        }
        // A broadcast in a final state never changes again: its work is done once
        // its passes are. Any other stays in the set (a start, a resume, a
        // recipient finishing), read every `interval`: a conditional removal
        // would race with the admin API adding it back.
        if record.state.isFinal && record.adding == nil && !record.cancelPending && !record.retryFailedPending { try await store.finishWork(id) }
    }

    /// Why a running broadcast must pause by itself: more than its
    /// `pauseOnErrorRate` of the messages that ended since its baseline failed,
    /// once `Broadcast.autoPauseSample` ended; nil otherwise.
    static func autoPause(_ record: BroadcastStore.Record, _ counts: [MessageState: Int]) -> String? {
        let rate = record.broadcast.pauseOnErrorRate
        guard rate < 100 else { return nil }
        let (failed, ended) = outcomes(counts)
        let f = max(0, failed - record.baseline.failed), e = max(0, ended - record.baseline.ended)
        guard e >= Broadcast.autoPauseSample, f * 100 > rate * e else { return nil }
        return "auto-paused: \(f) of the last \(e) messages failed, over \(rate) % (pause_on_error_rate); resume once the cause is fixed"
    }

    /// Messages that failed (`error`, `sending_failed`) and that ended at the provider (those and the sent ones).
    static func outcomes(_ counts: [MessageState: Int]) -> (failed: Int, ended: Int) {
        let failed = (counts[.error] ?? 0) + (counts[.sendingFailed] ?? 0)
        return (failed, failed + (counts[.sent] ?? 0) + (counts[.delivered] ?? 0) + (counts[.read] ?? 0))
    }

    /// What its auto-pause counts from now: what ended so far.
    func setBaseline(_ record: BroadcastStore.Record) async throws {
        let (failed, ended) = Self.outcomes(try await store.counts(record.broadcast))
        try await store.setBaseline(record.broadcast.id, failed: failed, ended: ended)
    }

    /// Adds `audience`'s members, from where the last planner stopped. False when
    /// the lease was lost mid-way (another planner goes on).
    func add(_ audience: Broadcast.Audience, to record: BroadcastStore.Record) async throws -> Bool {
        let id = record.broadcast.id
        let filter: ContactFilter
        do {
            switch audience {
            case .segment(let segment):
                guard let s = try await segments.get(segment) else {
                    logger.warning("broadcast audience names no segment", metadata: ["herald.broadcast": "\(id)", "herald.segment": "\(segment)"])
                    try await store.saveProgress(id, cursor: nil, added: record.added)
                    return true
                }
                filter = try s.filter()
            case .filter:
                filter = try audience.filter() ?? .everyone
            }
        } catch {
            logger.warning("broadcast audience no longer reads", metadata: ["herald.broadcast": "\(id)", "herald.error": "\(error)"])
            try await store.saveProgress(id, cursor: nil, added: record.added)
            return true
        }
        if let list = AddressBook.requiredList(filter) { return try await add(members: filter, of: list, to: record) }
        var cursor = try record.cursor.map { text throws(ContactFilterError) in try AddressBookCursor(text: text, partitions: store.partitions) }
        var added = record.added
        repeat {
            let page = try await book.page(filter, from: cursor, limit: chunk, now: clock.now(), scanLimit: chunk * 4)
            // Written before the cursor moves past them.
            // Under the lease no window step runs meanwhile: those behind a shard's cursor are released now, the rest in turn.
            let new = try await store.addRecipients(
                record.broadcast, page.profiles.map(\.id), release: record.state.sends ? .through(record.cursors) : .none, now: clock.now())
            added += new.count
            heartbeat?.beat()
            try await store.saveProgress(id, cursor: page.next?.text, added: added)
            cursor = page.next
            if cursor != nil, !(try await stillMine(id)) { return false }
        } while cursor != nil
        logger.info("broadcast recipients added", metadata: ["herald.broadcast": "\(id)", "herald.added": "\(added)"])
        return true
    }

    /// `add` for a selection that needs a list: its members are read from the
    /// list's index, shard by shard (`AddressBook.listPage`), the cursor kept as
    /// `set:<shard>:<scan cursor>`. A member the scan returns twice is one recipient.
    func add(members filter: ContactFilter, of list: String, to record: BroadcastStore.Record) async throws -> Bool {
        let id = record.broadcast.id
        var (shard, scan) = (0, "0")
        if let text = record.cursor, text.hasPrefix("set:") {
            let parts = text.split(separator: ":")
            if parts.count == 3, let s = Int(parts[1]), (0..<store.partitions).contains(s) { (shard, scan) = (s, String(parts[2])) }
        }
        var added = record.added
        while shard < store.partitions {
            let page = try await book.listPage(filter, list: list, shard: shard, cursor: scan, now: clock.now(), count: chunk)
            let new = try await store.addRecipients(
                record.broadcast, page.ids, release: record.state.sends ? .through(record.cursors) : .none, now: clock.now())
            added += new.count
            heartbeat?.beat()
            (shard, scan) = page.next == "0" ? (shard + 1, "0") : (shard, page.next)
            try await store.saveProgress(id, cursor: shard < store.partitions ? "set:\(shard):\(scan)" : nil, added: added)
            if shard < store.partitions, !(try await stillMine(id)) { return false }
        }
        logger.info("broadcast recipients added", metadata: ["herald.broadcast": "\(id)", "herald.added": "\(added)"])
        return true
    }

    /// Runs `body` over every recipient, shard by shard, a chunk at a time; with
    /// `through`, only over those at or before each shard's cursor (none in a
    /// shard without one). False when the lease was lost mid-way.
    func everyRecipient(
        of record: BroadcastStore.Record, through: [Int: String]? = nil, _ body: (Int, [String]) async throws -> Void
    ) async throws -> Bool {
        for shard in 0..<store.partitions {
            let end = through.map { $0[shard].map { Array($0.utf8) } }
            if case .some(.none) = end { continue }
            var after: String?
            while true {
                var ids = try await store.recipientIds(record.broadcast.id, shard: shard, after: after, limit: chunk)
                let full = ids.count == chunk
                if case .some(.some(let last)) = end { ids = ids.filter { !last.lexicographicallyPrecedes(Array($0.utf8)) } }
                if !ids.isEmpty { try await body(shard, ids) }
                heartbeat?.beat()
                guard full, ids.count == chunk else { break }
                after = ids.last
                if !(try await stillMine(record.broadcast.id)) { return false }
            }
        }
        return true
    }

    /// How many recipients a running broadcast may have handed to the senders
    /// and not ended, at least: the window grows with the pace its messages end
    /// (`windowSeconds` of it), so a fast broadcast is never starved and a slow
    /// one (a number at 80 a second) does not have thousands parked at the rate.
    var minimumWindow = 1_000
    /// Seconds of the observed pace the window holds.
    var windowSeconds = 5
    /// Per broadcast, the last time and ended count seen (this planner's own view).
    let pace = PaceMemory()

    /// Makes more recipients due while fewer than the window are in flight:
    /// released and not yet taken, in progress, or waiting for a retry or a turn
    /// at a limit. Every recipient that left `initial` was released first, so
    /// those released and still `initial` are `released − (total − initial)`
    /// (this broadcast's own; the retry sets' due backlog is every campaign's,
    /// and with ten broadcasts each would have counted the others'). Shards
    /// are released alike.
    func releaseWindow(_ record: BroadcastStore.Record) async throws {
        let now = clock.now()
        let counts = try await store.counts(record.broadcast)
        let ended = counts.filter { $0.key.isFinal }.values.reduce(0, +)
        let perSecond = pace.rate(record.broadcast.id, ended: ended, now: now)
        // The API's ETA: the pace the limits in force allow, as observed.
        try await store.notePace(record.broadcast.id, perSecond: perSecond)
        let window = max(minimumWindow, Int(perSecond * Double(windowSeconds)))
        let total = counts.values.reduce(0, +), initial = counts[.initial] ?? 0
        let waiting = max(0, record.released - (total - initial))
        let inFlight = (counts[.inProgress] ?? 0) + (counts[.retryScheduled] ?? 0) + waiting
        guard inFlight < window, (counts[.initial] ?? 0) > 0 else { return }
        let share = max(1, (window - inFlight + store.partitions - 1) / store.partitions)
        for shard in 0..<store.partitions {
            _ = try await store.releaseNext(record.broadcast.id, shard: shard, after: record.cursors[shard], limit: share, now: now)
        }
    }

    /// Cancels the recipients among `ids` that were not handed to a provider (a
    /// message in flight or done is left alone: `MessageState.allows`).
    func cancelWaiting(_ broadcast: Broadcast, shard: Int, _ ids: [String]) async throws {
        let waiting = try await store.recipients(shard: shard, sendIds: ids).filter {
            $0.fields["state"] == MessageState.initial.rawValue || $0.fields["state"] == MessageState.retryScheduled.rawValue
        }
        guard !waiting.isEmpty else { return }
        let now = clock.now()
        _ = try await messages.record(
            many: waiting.map { .init(broadcast.request(for: $0.contactId, now: now), .cancelled, reason: "cancelled by the administrator", mayCreate: false) },
            now: now)
    }
}

/// The pace each broadcast's messages end at, as this planner saw it between
/// its passes (smoothed), for the release window.
final class PaceMemory: Sendable {
    private let seen = Mutex<[String: (at: Int64, ended: Int, perSecond: Double)]>([:])

    /// Messages ended per second lately (0 until two looks apart).
    func rate(_ id: String, ended: Int, now: Int64) -> Double {
        seen.withLock { s in
            guard let last = s[id], now > last.at else {
                s[id] = (now, ended, 0)
                return 0
            }
            let instant = Double(max(0, ended - last.ended)) * 1000 / Double(now - last.at)
            let smoothed = last.perSecond == 0 ? instant : 0.7 * last.perSecond + 0.3 * instant
            s[id] = (now, ended, smoothed)
            return smoothed
        }
    }
}
