/// Enabled rules indexed by page, so evaluating a page view costs a few
/// dictionary lookups (one per path depth), not a scan of every rule.
public struct AlertRuleIndex: Sendable {
    /// The rules indexed, in the order given.
    public let rules: [AlertRule]
    /// "host/seg/seg" → (rule, page) pairs watching exactly that page.
    private var exact: [String: [(Int, Int)]] = [:]
    /// "host/seg" → pairs watching that page and everything under it.
    private var subtree: [String: [(Int, Int)]] = [:]

    /// A rule a view matched, with the least time on the page among its matching pages.
    public struct Match: Sendable, Equatable {
        /// The rule matched.
        public var rule: AlertRule
        /// The least time on the page (ms) among the rule's pages this view matched.
        public var minTimeMs: Int64
    }

    /// Indexes `rules`' pages by exact page and by sub-tree root.
    public init(rules: [AlertRule]) {
        self.rules = rules.filter(\.enabled)
        for (r, rule) in self.rules.enumerated() {
            for (p, page) in rule.pages.enumerated() {
                let key = page.pattern.page.description
                if page.pattern.coversSubpages { subtree[key, default: []].append((r, p)) } else { exact[key, default: []].append((r, p)) }
            }
        }
    }

    /// The rules a view of `url` matches, each once, with its least time on the page.
    public func matches(_ url: PageURL) -> [Match] {
        var found: [Int: Int64] = [:]
        func add(_ pairs: [(Int, Int)]?) {
            for (r, p) in pairs ?? [] {
                let t = rules[r].pages[p].minTimeMs
                found[r] = min(found[r] ?? t, t)
            }
        }
        var key = url.host
        add(subtree[key])
        for segment in url.segments {
            key += "/" + segment
            add(subtree[key])
        }
        add(exact[key])
        return found.sorted { $0.key < $1.key }.map { Match(rule: rules[$0.key], minTimeMs: $0.value) }
    }
}
