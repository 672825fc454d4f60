import HeraldCore
import Synchronization

/// Parsed campaigns, reloaded from the `CampaignStore` when its revision changes
/// (checked at most every `refreshInterval`), so workers pick up publishes, pauses
/// and stops without a restart.
public final class CampaignCatalog: Sendable {
    /// One campaign as the workers see it.
    public struct Entry: Sendable {
        public var state: CampaignStore.State
        public var publishedVersion: Int?
        public var engines: [Int: JourneyEngine]
        public var retired: [Int: CampaignStore.RetireMode]

        public var published: JourneyEngine? { publishedVersion.flatMap { engines[$0] } }
    }

    private let store: CampaignStore
    private let refreshInterval: Duration
    private let state = Mutex<(revision: Int64, checked: ContinuousClock.Instant?, entries: [String: Entry])>((-1, nil, [:]))

    public init(store: CampaignStore, refreshInterval: Duration = .milliseconds(500)) {
        self.store = store
        self.refreshInterval = refreshInterval
    }

    /// The current campaigns by id (reloading first if the store changed).
    public func entries() async throws -> [String: Entry] {
        let now = ContinuousClock.now
        let (revision, checked, cached) = state.withLock { ($0.revision, $0.checked, $0.entries) }
        if let checked, now - checked < refreshInterval { return cached }
        let current = try await store.revision()
        if current == revision {
            state.withLock { $0.checked = now }
            return cached
        }
        var entries: [String: Entry] = [:]
        for id in try await store.list() {
            guard let summary = try await store.show(id: id) else { continue }
            var engines: [Int: JourneyEngine] = [:]
            // Versions journeys may still be on: the published one and drained ones.
            let live = (summary.publishedVersion.map { [$0] } ?? []) + summary.retired.filter { $0.value == .drain }.map(\.key)
            for v in live {
                guard let yaml = try await store.yaml(id: id, version: v), let c = try? CampaignParser.parse(yaml, file: "\(id)@\(v)") else { continue }
                engines[v] = JourneyEngine(campaign: c, version: v)
            }
            entries[id] = Entry(state: summary.state, publishedVersion: summary.publishedVersion, engines: engines, retired: summary.retired)
        }
        state.withLock { $0 = (current, now, entries) }
        return entries
    }

    /// Event types any live campaign listens to (triggers and exits).
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
}
