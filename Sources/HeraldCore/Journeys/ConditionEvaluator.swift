/// Evaluates campaign conditions against a contact and its triggering event.
public enum ConditionEvaluator {
    /// - Parameters:
    ///   - event: properties of the event that started the journey (or is being matched).
    ///   - now: UTC milliseconds, for `within` periods.
    public static func evaluate(_ condition: Condition, contact: ContactSnapshot, event: [String: JSONValue], now: Int64) -> Bool {
        switch condition {
        case .all(let cs): return cs.allSatisfy { evaluate($0, contact: contact, event: event, now: now) }
        case .any(let cs): return cs.contains { evaluate($0, contact: contact, event: event, now: now) }
        case .not(let c): return !evaluate(c, contact: contact, event: event, now: now)
        case .attribute(let name, let cmp):
            switch cmp {
            case .withinLast, .olderThan, .anniversaryWithin: return RelativeDate.holds(contact.attributes[name], cmp, now: now, timeZone: contact.timeZone)
            default: return compare(contact.attributes[name], cmp)
            }
        case .eventProperty(let name, let cmp): return compare(event[name], cmp)
        case .hasTag(let tag): return contact.tags.contains(tag)
        case .inList(let list): return contact.lists.contains(list)
        case .segment: return false  // unresolved: no such segment (`Condition.resolvingSegments`)
        case .messages(let channel, let category, let within, let count):
            let since = within.map { now.subtractingClamped($0.milliseconds) } ?? Int64.min
            let n = contact.messages.filter { m in
                m.at >= since && (channel == nil || m.channel == channel) && (category == nil || m.category == category)
            }.count
            return compare(.int(Int64(n)), count)
        case .purchases(let within, let count):
            // Without a period, the dropped (oldest) purchases count too; a period
            // counts the kept ones, exact while the contact has at most
            // `ContactProfile.purchaseCap` purchases newer than its start.
            guard let within else { return compare(.int(Int64(contact.purchases.count).addingClamped(contact.olderPurchases)), count) }
            let since = now.subtractingClamped(within.milliseconds)
            return compare(.int(Int64(contact.purchases.filter { $0 >= since }.count)), count)
        case .purchaseTotal(let within, let amount):
            // As counts: without a period, dropped purchases' amounts are in the sum too.
            guard let within else { return compare(.double(contact.purchaseTotals.reduce(contact.olderPurchaseTotal) { $0 + $1.total }), amount) }
            let since = now.subtractingClamped(within.milliseconds)
            return compare(.double(contact.purchaseTotals.reduce(0) { $1.at >= since ? $0 + $1.total : $0 }), amount)
        case .activity(let key, let within, let count):
            // Exact: the parser keeps counts below `ContactActivity.timesCap`, the times kept per key.
            let since = within.map { now.subtractingClamped($0.milliseconds) } ?? Int64.min
            return compare(.int(Int64((contact.activity[key] ?? []).filter { $0 >= since }.count)), count)
        }
    }

    /// Compares a possibly missing value. A missing value only satisfies `ne` and `exists: false`.
    public static func compare(_ value: JSONValue?, _ cmp: Comparison) -> Bool {
        if case .exists(let wanted) = cmp { return (value != nil && value != .null) == wanted }
        guard let value, value != .null else {
            if case .ne = cmp { return true }
            return false
        }
        switch cmp {
        case .eq(let v): return equal(value, v)
        case .ne(let v): return !equal(value, v)
        case .lt(let v): return order(value, v).map { $0 < 0 } ?? false
        case .gt(let v): return order(value, v).map { $0 > 0 } ?? false
        case .in(let list): return list.contains { equal(value, $0) }
        case .contains(let v):
            switch value {
            case .string(let s): if case .string(let sub) = v { return s.localizedLowercase.contains(sub.localizedLowercase) } else { return false }
            case .array(let a): return a.contains { equal($0, v) }
            default: return false
            }
        case .exists: return true
        case .withinLast, .olderThan, .anniversaryWithin: return false  // dates of attributes only (`RelativeDate`)
        }
    }

    /// Numbers compare by value whatever their JSON type; strings case-sensitively.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = number(a), let y = number(b) { return x == y }
        return a == b
    }

    /// -1, 0, 1 for comparable values; nil otherwise. Strings compare lexically,
    /// which orders ISO dates (2026-11-22) correctly.
    static func order(_ a: JSONValue, _ b: JSONValue) -> Int? {
        if let x = number(a), let y = number(b) { return x < y ? -1 : x > y ? 1 : 0 }
        if case .string(let x) = a, case .string(let y) = b { return x < y ? -1 : x > y ? 1 : 0 }
        return nil
    }

    static func number(_ v: JSONValue) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }
}
