/// Decides whether an event fires a trigger.
public enum TriggerMatcher {
    /// - Parameter campaignId: the campaign whose trigger this is (the API trigger names it).
    public static func matches(
        _ trigger: Trigger, eventType: String, properties: [String: JSONValue], contact: ContactSnapshot, campaignList: String, campaignId: String = "",
        now: Int64
    ) -> Bool {
        guard trigger.eventType == eventType else { return false }
        switch trigger {
        case .listSubscribed(let list, let includeImports):
            guard properties["list"]?.stringValue == (list ?? campaignList) else { return false }
            return includeImports || properties["source"]?.stringValue != "import"
        case .emailOpened(let campaign, let template), .emailClicked(let campaign, let template):
            if let campaign, properties["campaign"]?.stringValue != campaign { return false }
            if let template, properties["template"]?.stringValue != template { return false }
            return true
        case .pageVisited(let urls):
            guard let url = properties["url"]?.stringValue else { return false }
            return urls.contains { URLPattern.matches(pattern: $0, url: url) }
        case .tagAdded(let tag), .tagRemoved(let tag):
            return properties["tag"]?.stringValue == tag
        case .event(_, let when):
            return when.map { ConditionEvaluator.evaluate($0, contact: contact, event: properties, now: now) } ?? true
        case .purchase:
            return true
        case .api:
            // `campaign_entry_requested` with `properties.campaign` naming this campaign.
            return properties["campaign"]?.stringValue == campaignId
        case .anniversary, .date, .daily:
            return false  // fired by the daily sweep, not by events
        }
    }
}

/// URL patterns: an exact URL, or a prefix ending in `/**` that covers the page and
/// every sub-page. Query strings, fragments and a trailing slash are ignored, and
/// scheme and host compare case-insensitively, as a user expects.
public enum URLPattern {
    /// Whether `url` is the page `pattern` names, or (for a `/**` pattern) one of its sub-pages.
    public static func matches(pattern: String, url: String) -> Bool {
        if pattern.hasSuffix("/**") {
            let base = normalise(String(pattern.dropLast(3)))
            let candidate = normalise(url)
            return candidate == base || candidate.hasPrefix(base + "/")
        }
        return normalise(pattern) == normalise(url)
    }

    static func normalise(_ url: String) -> String {
        var s = Substring(url)
        if let cut = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<cut] }
        while s.hasSuffix("/") { s = s.dropLast() }
        // Lower-case scheme and host only; paths are case-sensitive.
        if let schemeEnd = s.range(of: "://") {
            let afterScheme = s[schemeEnd.upperBound...]
            let hostEnd = afterScheme.firstIndex(of: "/") ?? afterScheme.endIndex
            return (s[..<hostEnd]).lowercased() + s[hostEnd...]
        }
        return String(s)
    }
}
