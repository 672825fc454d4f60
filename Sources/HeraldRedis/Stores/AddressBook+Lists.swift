import HeraldCore

/// Selections that need a list: read from the list's own index
/// (`herald:idx:list:{s}:<list>`, kept by the profile scripts) instead of every
/// contact of the address book. A broadcast to a list of 100,000 in a book of
/// millions reads its 100,000 members, not the millions (measured with
/// `heraldctl bench broadcast`, docs/benchmarks.md).
extension AddressBook {
    /// The list every contact `filter` selects must be on (its condition is that
    /// list, or "all" of conditions with it); nil when there is none.
    public static func requiredList(_ filter: ContactFilter) -> String? {
        switch filter.condition {
        case .inList(let list)?: return list
        case .all(let parts)?:
            for case .inList(let list) in parts { return list }
            return nil
        default: return nil
        }
    }

    /// One step of a scan of `list`'s members in `shard` (`SSCAN` from `cursor`,
    /// "0" at the start): those `filter` selects, and where the scan goes on
    /// ("0": the shard is done). A member present for the whole scan is returned
    /// at least once (`SSCAN`'s promise); one may come twice, so callers must be
    /// idempotent, as adding a recipient is. Profiles are read and checked unless
    /// the filter is the list alone.
    public func listPage(_ filter: ContactFilter, list: String, shard: Int, cursor: String, now: Int64, count: Int) async throws -> (
        ids: [String], next: String
    ) {
        let reply = try await contacts.redis.execute(["SSCAN", "herald:idx:list:\(Shard.hashTag(shard)):\(list)", cursor, "COUNT", String(count)])
        guard let parts = reply.array, parts.count == 2, let next = parts[0].string else {
            throw RedisError(code: .server, message: "SSCAN answered \(reply)")
        }
        let members = (parts[1].array ?? []).compactMap(\.string)
        guard filter.condition != .inList(list), !members.isEmpty else { return (members, next) }
        let profiles = try await contacts.get(many: members)
        return (members.filter { profiles[$0].map { filter.matches($0, now: now) } ?? false }, next)
    }
}
