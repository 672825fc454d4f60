import HeraldCore
import Synchronization

/// Parsed campaigns, reloaded from the `CampaignStore` when its revision changes,
/// so workers pick up publishes, pauses and stops without a restart.
///
/// Every caller that starts a batch (a consumer batch, a wake-up claim, a sweep)
/// calls `refresh()` first: one `GET` of the revision, made after the batch's
/// records were read. An event accepted after the admin API answered a publish
/// was produced after the publish's `INCR`, so the batch holding it sees the new
/// revision. (The catalogue was once checked at most every 500 ms, and ten of ten
/// contacts whose event followed a publish at once never entered.) Within the
/// batch, `entries()` reads the same snapshot without further round trips.
public final class CampaignCatalog: Sendable {
    /// One campaign as the workers see it.
    public struct Entry: Sendable {
        /// Draft, active, paused, draining or stopped.
        public var state: CampaignStore.State
        /// The version new journeys enter (nil: never published).
        public var publishedVersion: Int?
        /// An engine per version journeys may be on: the published one and those retired with `drain`.
        public var engines: [Int: JourneyEngine]
        /// Retired versions and what happens to their journeys.
        public var retired: [Int: CampaignStore.RetireMode]

        /// The engine of the published version.
        public var published: JourneyEngine? { publishedVersion.flatMap { engines[$0] } }
    }

    private let store: CampaignStore
    private let state = Mutex<(revision: Int64, entries: [String: Entry], recordedActivity: Set<String>, broadcasts: [String: BroadcastState])>(
        (-1, [:], ContactActivity.alwaysRecorded, [:]))

    /// A catalogue read from `store`, empty until first read.
    public init(store: CampaignStore) {
        self.store = store
    }

    /// The campaigns as of the last `refresh()` (refreshing first if there was none).
    public func entries() async throws -> [String: Entry] {
        let (revision, cached) = state.withLock { ($0.revision, $0.entries) }
        return revision < 0 ? try await refresh() : cached
    }

    /// Reads the store's revision and reloads every campaign when it changed.
    /// - Throws: `RedisError` when Redis cannot be reached.
    @discardableResult
    public func refresh() async throws -> [String: Entry] {
        let (revision, cached) = state.withLock { ($0.revision, $0.entries) }
        let current = try await store.revision()
        if current == revision { return cached }
        var entries: [String: Entry] = [:]
        // Segments a campaign names are resolved here, so a campaign and an
        // address-book filter read a segment alike; a segment's change bumps the
        // revision too (`SegmentStore`).
        var segments: [String: Condition] = [:]
        for s in try await SegmentStore(redis: store.redis).all() {
            if let c = try? CampaignParser.parseCondition(s.condition, source: "segment \(s.id)") { segments[s.id] = c }
        }
        var conditions = Array(segments.values)
        for id in try await store.list() {
            guard let summary = try await store.show(id: id) else { continue }
            var engines: [Int: JourneyEngine] = [:]
            // Versions journeys may still be on: the published one and drained ones.
            let live = (summary.publishedVersion.map { [$0] } ?? []) + summary.retired.filter { $0.value == .drain }.map(\.key)
            for v in live {
                guard let yaml = try await store.yaml(id: id, version: v), let c = try? CampaignParser.parse(yaml, file: "\(id)@\(v)") else { continue }
                engines[v] = JourneyEngine(campaign: c.resolvingSegments(segments), version: v)
                conditions += c.conditions
            }
            entries[id] = Entry(state: summary.state, publishedVersion: summary.publishedVersion, engines: engines, retired: summary.retired)
        }
        // Broadcasts move through the same revision (`BroadcastStore`): the sender
        // holds, sends or cancels their messages by these states.
        let broadcasts = try await BroadcastStore.states(in: store.redis)
        // A slower concurrent reload of an older revision must not win.
        let recorded = ContactActivity.recordedTypes(conditions)
        return state.withLock { s in
            if current >= s.revision { s = (current, entries, recorded, broadcasts) }
            return s.entries
        }
    }

    /// Each broadcast's state by id, as of the last refresh.
    public func broadcastStates() -> [String: BroadcastState] { state.withLock { $0.broadcasts } }

    /// Event types any live campaign listens to (triggers and exits), as of the last refresh.
    public func interestingEventTypes() async throws -> Set<String> {
        var types: Set<String> = []
        for entry in try await entries().values {
            for engine in entry.engines.values {
                for t in engine.campaign.triggers { if let e = t.eventType { types.insert(e) } }
                for x in engine.campaign.exits { types.insert(x.event) }
            }
        }
        return types
    }

    /// The event types the profile applier records as activity, as of the last
    /// refresh: those a live campaign or a saved segment counts
    /// (`ContactActivity.recordedTypes`), and opens and clicks.
    public func recordedActivityTypes() -> Set<String> { state.withLock { $0.recordedActivity } }

    /// Which lists and tags an import must announce with `list_subscribed` and
    /// `tag_added` events, as of the last refresh (`ImportAnnouncements`).
    public func importAnnouncements() async throws -> ImportAnnouncements {
        ImportAnnouncements(campaigns: try await entries().values.flatMap { $0.engines.values.map(\.campaign) })
    }
}
