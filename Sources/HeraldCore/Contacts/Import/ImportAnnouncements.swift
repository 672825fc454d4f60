/// Which lists and tags an import must announce with `list_subscribed` and
/// `tag_added` events: those a live campaign starts on (a `list_subscribed`
/// trigger with `include_imports`, a `tag_added` trigger), and every one when
/// a campaign reads the event type some other way (an `event:` trigger or an
/// exit on it). An import's own record already changes the profile: these
/// events only start and end journeys, so no other is made (docs/contacts.md).
public struct ImportAnnouncements: Sendable, Equatable {
    /// Every list (a campaign reads `list_subscribed` other than by list).
    public var allLists = false
    /// These lists.
    public var lists: Set<String> = []
    /// Every tag (a campaign reads `tag_added` other than by tag).
    public var allTags = false
    /// These tags.
    public var tags: Set<String> = []

    /// Nothing to announce.
    public init() {}

    /// What `campaigns` (every live version) need announced.
    public init(campaigns: [Campaign]) {
        for campaign in campaigns {
            for t in campaign.triggers {
                switch t {
                case .listSubscribed(let list, let includeImports): if includeImports { lists.insert(list ?? campaign.list) }
                case .tagAdded(let tag): tags.insert(tag)
                case .event(let name, _): note(eventType: name)
                default: break
                }
            }
            for x in campaign.exits { note(eventType: x.event) }
        }
    }

    /// Whether subscribing to `list` must be an event.
    public func announces(list: String) -> Bool { allLists || lists.contains(list) }
    /// Whether adding `tag` must be an event.
    public func announces(tag: String) -> Bool { allTags || tags.contains(tag) }

    mutating func note(eventType: String) {
        if eventType == "list_subscribed" { allLists = true }
        if eventType == "tag_added" { allTags = true }
    }
}
