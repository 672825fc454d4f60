import Foundation

/// Date attributes compared with now: `within_last`, `older_than` and
/// `anniversary_within` (docs/campaigns.md, "Conditions").
enum RelativeDate {
    /// UTC milliseconds of a `YYYY-MM-DD` (its midnight, UTC) or RFC 3339 value; nil for anything else.
    static func milliseconds(_ value: JSONValue?) -> Int64? {
        guard case .string(let text)? = value else { return nil }
        if text.utf8.count == 10, let iso = ImportDate.iso(text), iso == text {
            let p = text.split(separator: "-").map { Int($0)! }
            return Int64(RFC3339.daysFromCivil(year: p[0], month: p[1], day: p[2])) * 86_400_000
        }
        return RFC3339.parseMilliseconds(text)
    }

    static func holds(_ value: JSONValue?, _ cmp: Comparison, now: Int64, timeZone: String?) -> Bool {
        guard let at = milliseconds(value) else { return false }
        switch cmp {
        case .withinLast(let d): return at <= now && at >= now.subtractingClamped(d.milliseconds)
        case .olderThan(let d): return at < now.subtractingClamped(d.milliseconds)
        case .anniversaryWithin(let d):
            // Today in the contact's zone (UTC when it has none), then each day of the period.
            let zone = timeZone.flatMap { TimeZone(identifier: $0) } ?? TimeZone(identifier: "UTC")!
            let offset = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(now) / 1000))) * 1000
            let today = Int(now.addingClamped(offset).floorDivided(by: 86_400_000))
            let (_, month, day) = RFC3339.civilFromDays(Int(at.floorDivided(by: 86_400_000)))
            let days = max(1, Int(d.milliseconds / 86_400_000))
            for n in 0..<days {
                let (y, m, dd) = RFC3339.civilFromDays(today + n)
                // 29 February is celebrated on the 28th in other years.
                if m == month && (dd == day || (month == 2 && day == 29 && dd == 28 && !RFC3339.isLeap(y))) { return true }
            }
            return false
        default: return false
        }
    }
}

extension Int64 {
    /// Division rounding toward minus infinity.
    func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
