/// What a contact's stored journeys shrink to, so per-contact state is bounded.
///
/// A finished journey is kept only for what still reads it: the entry rules
/// (`once` needs one finished instance of the campaign, `after_exit` only the
/// active ones), `GET /v1/contacts/{id}/journeys` and test restarts. So a
/// finished instance is stored without its trigger event and step visits
/// (`compacted`), and only the newest `keptPerCampaign` finished instances of
/// each campaign stay; the others are deleted in the same save. Before, every
/// journey stayed forever with its whole trigger event, and every transition
/// loaded them all: a contact in a `parallel` campaign grew without bound.
public enum JourneyRetention {
    /// Finished instances kept per contact and campaign (at least 1, for `once`).
    public static let keptPerCampaign = 10

    /// The instance as stored: unchanged while active; finished, without the
    /// trigger event and the visit counts no later step will read.
    public static func compacted(_ instance: JourneyInstance) -> JourneyInstance {
        guard !instance.status.isActive else { return instance }
        var small = instance
        small.triggerEvent = [:]
        small.visits = [:]
        return small
    }

    /// Ids of finished instances to delete once `saving` is stored over `existing`.
    public static func expired(existing: [JourneyInstance], saving: [JourneyInstance], keep: Int = keptPerCampaign) -> [String] {
        var latest: [String: JourneyInstance] = [:]
        for i in existing { latest[i.id] = i }
        for i in saving { latest[i.id] = i }
        var out: [String] = []
        for (_, instances) in Dictionary(grouping: latest.values.filter { !$0.status.isActive }, by: \.campaignId) where instances.count > keep {
            let newestFirst = instances.sorted { (endedAt($0), $0.id) > (endedAt($1), $1.id) }
            out += newestFirst.dropFirst(max(1, keep)).map(\.id)
        }
        return out.sorted()
    }

    static func endedAt(_ i: JourneyInstance) -> Int64 {
        switch i.status {
        case .completed(let at), .exited(_, let at): at
        case .running, .waiting: .max
        }
    }
}
