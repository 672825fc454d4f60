extension ContactChange {
    /// The `list_subscribed` / `list_unsubscribed` / `tag_added` / `tag_removed`
    /// events this change makes of a profile that is `before` (nil: a new
    /// contact), so that a change through the contacts API starts campaigns as
    /// the same change on the event stream does. Each carries
    /// `properties.source` (`api`; `import` for imports, which list triggers skip
    /// unless asked: docs/campaigns.md).
    ///
    /// Event ids are derived from the contact, the profile's last change time,
    /// the kind and the name, so a retried request against the same profile
    /// produces the same ids and the intake's dedupe drops the repeats.
    public func membershipEvents(before: ContactProfile?, contactId: String, now: Int64, source: String) -> [Event] {
        let lists = before?.lists ?? [], tags = before?.tags ?? []
        let afterLists = (replace ? Set(addLists) : lists.union(addLists)).subtracting(removeLists)
        let afterTags = (replace ? Set(addTags) : tags.union(addTags)).subtracting(removeTags)
        let version = before?.updatedAt ?? 0
        func event(_ type: String, _ key: String, _ name: String) -> Event {
            let digest = Hashing.sha256(Array("\(contactId)\u{1F}\(version)\u{1F}\(type)\u{1F}\(name)".utf8))
            return Event(
                id: "\(source)-" + Hashing.hex(digest.prefix(16)), type: type, contactId: contactId, timestamp: now, receivedAt: now,
                properties: [key: .string(name), "source": .string(source)])
        }
        return afterLists.subtracting(lists).sorted().map { event("list_subscribed", "list", $0) }
            + lists.subtracting(afterLists).sorted().map { event("list_unsubscribed", "list", $0) }
            + afterTags.subtracting(tags).sorted().map { event("tag_added", "tag", $0) }
            + tags.subtracting(afterTags).sorted().map { event("tag_removed", "tag", $0) }
    }
}
