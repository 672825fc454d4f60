/// A campaign's report counters: what each journey save adds (the scheduler)
/// and what `GET /v1/campaigns/{id}/report` sums and shows (the API).
///
/// Stored as a Redis hash per shard and campaign, one field per counter; the
/// field names are written and read here only (`Counter.field`,
/// `Counter(field:)`), so the scheduler and the API cannot drift apart.
public struct CampaignReport: Sendable, Hashable {
    /// One counter.
    public enum Counter: Sendable, Hashable {
        /// Journeys that entered (any version).
        case entered
        /// Journeys that completed.
        case completed
        /// Journeys that exited, by reason (`exit_event`, `audience`, …).
        case exited(String)
        /// How often a step ran.
        case step(String)
        /// Entries, completions and exits of one version.
        case version(Int, VersionCount)

        /// The per-version counters.
        public enum VersionCount: String, Sendable, Hashable, CaseIterable {
            case entered, completed, exited
        }

        /// The hash field: `entered`, `completed`, `exited:<reason>`,
        /// `step:<id>`, `v<n>:entered|completed|exited`.
        public var field: String {
            switch self {
            case .entered: "entered"
            case .completed: "completed"
            case .exited(let reason): "exited:\(reason)"
            case .step(let id): "step:\(id)"
            case .version(let v, let count): "v\(v):\(count.rawValue)"
            }
        }

        /// The counter a hash field names, or nil for a field this version of
        /// Herald does not know (left out of the report, never a failure).
        public init?(field: String) {
            switch field {
            case "entered": self = .entered
            case "completed": self = .completed
            default:
                if field.hasPrefix("exited:") {
                    self = .exited(String(field.dropFirst(7)))
                } else if field.hasPrefix("step:") {
                    self = .step(String(field.dropFirst(5)))
                } else if field.hasPrefix("v"), let colon = field.firstIndex(of: ":"),
                    let v = Int(field[field.index(after: field.startIndex)..<colon]),
                    let count = VersionCount(rawValue: String(field[field.index(after: colon)...]))
                {
                    self = .version(v, count)
                } else {
                    return nil
                }
            }
        }
    }

    /// Each counter's value.
    public var counts: [Counter: Int]

    /// A report with these counts (absent counters are zero).
    public init(counts: [Counter: Int] = [:]) {
        self.counts = counts
    }

    /// A report read from stored hash fields (several shards' fields summed by
    /// the caller or here); unknown fields are left out.
    public init(fields: [String: Int]) {
        var counts: [Counter: Int] = [:]
        for (field, value) in fields {
            if let counter = Counter(field: field) { counts[counter, default: 0] += value }
        }
        self.counts = counts
    }

    /// The hash fields to add, for a save.
    public var fields: [String: Int] {
        Dictionary(counts.map { ($0.key.field, $0.value) }, uniquingKeysWith: +)
    }

    /// Adds another report's counts (several transitions, several shards).
    public mutating func add(_ other: CampaignReport) {
        counts.merge(other.counts, uniquingKeysWith: +)
    }

    /// One counter's value (0 when absent).
    public subscript(_ counter: Counter) -> Int {
        get { counts[counter] ?? 0 }
        set { counts[counter] = newValue }
    }

    /// What a save of `transitions` adds to each campaign's report: entries
    /// (also per version), endings by kind and reason, and how often each step
    /// ran. Test journeys are left out.
    /// - Parameter previous: the instances as they were before the transitions.
    public static func delta(of transitions: [Transition], previous: [JourneyInstance]) -> [String: CampaignReport] {
        let before = Dictionary(previous.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var reports: [String: CampaignReport] = [:]
        for t in transitions where !t.instance.isTest {
            let i = t.instance
            let old = before[i.id]
            var r = reports[i.campaignId, default: CampaignReport()]
            if old == nil {
                r[.entered] += 1
                r[.version(i.version, .entered)] += 1
            }
            // Every step run in this transition (visits only grow).
            for (step, visits) in i.visits {
                let delta = visits - (old?.visits[step] ?? 0)
                if delta > 0 { r[.step(step)] += delta }
            }
            if old?.status.isActive ?? true {
                switch i.status {
                case .completed:
                    r[.completed] += 1
                    r[.version(i.version, .completed)] += 1
                case .exited(let reason, _):
                    r[.exited(reason.rawValue)] += 1
                    r[.version(i.version, .exited)] += 1
                default: break
                }
            }
            reports[i.campaignId] = r
        }
        return reports
    }

    /// The report as the API shows it: totals, journeys still active, exits by
    /// reason, step runs and per-version counts.
    public func json(campaignId: String) -> JSONValue {
        var exited: [String: JSONValue] = [:]
        var steps: [String: JSONValue] = [:]
        var versions: [String: [String: JSONValue]] = [:]
        var exitedTotal = 0
        for (counter, value) in counts {
            switch counter {
            case .exited(let reason):
                exited[reason] = .int(Int64(value))
                exitedTotal += value
            case .step(let id): steps[id] = .int(Int64(value))
            case .version(let v, let count): versions[String(v), default: [:]][count.rawValue] = .int(Int64(value))
            case .entered, .completed: break
            }
        }
        return [
            "campaign_id": .string(campaignId), "entered": .int(Int64(self[.entered])),
            "active": .int(Int64(self[.entered] - self[.completed] - exitedTotal)),
            "completed": .int(Int64(self[.completed])), "exited": .object(exited), "steps": .object(steps),
            "versions": .object(versions.mapValues { .object($0) }),
        ]
    }
}
