import HeraldCore

/// Finding contacts by email address or phone number, for imports that match
/// on them (docs/contacts.md, "Matching").
///
/// `herald:idx:email:{k}` and `herald:idx:phone:{k}` are hashes from the
/// normalised address (lower case) or E.164 number to a contact id, where `k`
/// is the shard of the address or number itself: a lookup is then one `HMGET`
/// per slot, whatever the number of shards, and stays valid on a Redis Cluster.
/// The profile lives in the contact's slot, so one script cannot change both:
/// the store updates the lookups right after it writes the profile, from the
/// email and phone before and after. A crash in between leaves an entry
/// missing (the replayed change, which names the field again, restores it) or
/// stale; so every hit is checked against the profile, and a stale entry is a miss.
/// Two contacts with one address: the entry names the one that took it last.
extension ContactStore {
    /// Which lookup: by email or by phone.
    public enum LookupField: String, Sendable, CaseIterable {
        case email
        case phone

        /// The form a value is looked up by: a lowercased, trimmed email; a phone as stored (E.164).
        public func normalized(_ value: String) -> String {
            (self == .email ? ImportMatch.email : ImportMatch.phone).normalized(value)
        }

        /// The profile's value of this field.
        func value(of profile: ContactProfile) -> String? {
            switch self {
            case .email: profile.email
            case .phone: profile.phone
            }
        }
    }

    /// The lookup hash that holds `value` (already normalised).
    public func lookupKey(_ field: LookupField, _ value: String) -> String {
        "herald:idx:\(field.rawValue):\(Shard.hashTag(Shard.of(value, partitions: partitions)))"
    }

    /// The contacts whose `field` is one of `values` (normalised), with their
    /// profiles; values no contact holds are left out. Two round trips: the
    /// lookups, then the profiles they name, which must still hold the value.
    public func find(_ field: LookupField, _ values: [String]) async throws -> [String: ContactProfile] {
        let unique = Array(Set(values))
        guard !unique.isEmpty else { return [:] }
        let bySlot = Dictionary(grouping: unique) { lookupKey(field, $0) }
        let slots = Array(bySlot)
        let replies = try await redis.pipeline(slots.map { ["HMGET", $0.key] + $0.value })
        var ids: [String: String] = [:]
        for ((key, asked), reply) in zip(slots, replies) {
            if case .error(let message) = reply { throw RedisError(code: .server, message: "HMGET \(key): \(message)") }
            for (value, id) in zip(asked, reply.array ?? []) { if let id = id.string { ids[value] = id } }
        }
        let profiles = try await get(many: Array(Set(ids.values)))
        var found: [String: ContactProfile] = [:]
        for (value, id) in ids {
            if let p = profiles[id], let held = field.value(of: p), field.normalized(held) == value { found[value] = p }
        }
        return found
    }

    /// A contact's email and phone before and after a change, for the lookups.
    struct LookupChange {
        var contactId: String
        var before: (email: String?, phone: String?)
        var after: (email: String?, phone: String?)

        func value(_ field: LookupField, after: Bool) -> String? {
            let pair = after ? self.after : before
            return field == .email ? pair.email : pair.phone
        }
    }

    /// Records `contactId` under its email and phone in the lookups, and takes it
    /// off the ones it no longer has; `profile` is the profile as stored (or nil:
    /// erased). For `heraldctl contacts reindex` and erasure; changes through
    /// `apply` keep the lookups themselves.
    public func updateLookups(_ contactId: String, before: ContactProfile?, after: ContactProfile?) async throws {
        try await updateLookups([Self.lookupChange(contactId, before: before, after: after)])
    }

    /// The lookup change from `before` to `after`.
    static func lookupChange(_ contactId: String, before: ContactProfile?, after: ContactProfile?) -> LookupChange {
        LookupChange(contactId: contactId, before: (before?.email, before?.phone), after: (after?.email, after?.phone))
    }

    /// Applies lookup changes in one round trip: every entry to set as a plain
    /// `HSET`, in order (the last contact to take an address holds it), then
    /// every entry to take off with `contact_lookup`, which removes it only
    /// while it still names the contact. Any order of a set and a forget ends
    /// the same way, so sets need no script: a script call cost Redis about
    /// 7 µs where an `HSET` costs about 1, twice for every imported row.
    func updateLookups(_ changes: [LookupChange]) async throws {
        var sets: [[String]] = []
        var forgets: [(keys: [String], arguments: [String])] = []
        for change in changes {
            for field in LookupField.allCases {
                let old = change.value(field, after: false).map(field.normalized), new = change.value(field, after: true).map(field.normalized)
                if let old, old != new { forgets.append(([lookupKey(field, old)], [old, change.contactId])) }
                // Set even when unchanged: a change replayed after a crash between
                // the profile and the lookup restores the entry.
                if let new, !new.isEmpty { sets.append(["HSET", lookupKey(field, new), new, change.contactId]) }
            }
        }
        for case .error(let message) in try await redis.evalMany(Self.lookupScript, calls: forgets, first: sets) {
            throw RedisError(code: .server, message: "contact_lookup: \(message)")
        }
    }

    /// Takes an email or phone entry off only while it still names the contact.
    static let lookupScript = RedisScript(name: "contact_lookup", source: LuaSource.contactLookup)
}
