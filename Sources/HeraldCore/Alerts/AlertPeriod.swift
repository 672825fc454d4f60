import Foundation

/// The calendar period an alert counts against, in the rule's time zone:
/// a local day, an ISO 8601 week (Monday to Sunday) or a month.
public enum AlertPeriod: String, Sendable, CaseIterable {
    case day, week, month

    /// The local date (`2026-11-23`) of `ms` in `timeZone`: the zone's offset at
    /// that moment applied to UTC. Cheaper than a Calendar, for per-day counters
    /// written on every matched view.
    public static func localDay(_ ms: Int64, timeZone: String) -> String {
        let tz = TimeZones.named(timeZone)
        let offset = Int64(tz.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000)))
        return RFC3339.date(milliseconds: ms.addingClamped(offset * 1000))
    }

    /// A key naming the period that contains `ms` (UTC milliseconds) in
    /// `timeZone`: `2026-11-23`, `2026-W48`, `2026-11` — and when it ends (UTC ms).
    public func containing(_ ms: Int64, timeZone: String) -> (key: String, endsAt: Int64) {
        var cal = Calendar(identifier: .iso8601)
        cal.timeZone = TimeZones.named(timeZone)
        let date = Date(timeIntervalSince1970: Double(ms) / 1000)
        let component: Calendar.Component =
            switch self {
            case .day: .day
            case .week: .weekOfYear
            case .month: .month
            }
        let interval = cal.dateInterval(of: component, for: date) ?? DateInterval(start: date, duration: 86_400)
        // Clamped: a time near the edge of Int64 (never a real one) must not trap.
        let end = Int64(exactly: (interval.end.timeIntervalSince1970 * 1000).rounded()) ?? (ms < 0 ? .min : .max)
        let c = cal.dateComponents([.year, .month, .day, .yearForWeekOfYear, .weekOfYear], from: date)
        func two(_ n: Int?) -> String { n.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        let key =
            switch self {
            case .day: "\(c.year ?? 0)-\(two(c.month))-\(two(c.day))"
            case .week: "\(c.yearForWeekOfYear ?? 0)-W\(two(c.weekOfYear))"
            case .month: "\(c.year ?? 0)-\(two(c.month))"
            }
        return (key, end)
    }
}
