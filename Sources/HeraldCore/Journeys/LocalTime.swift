import Foundation

/// Local calendar arithmetic in an IANA time zone, for "wait until" and date triggers.
public enum LocalTime {
    static func calendar(_ timeZone: String) -> Calendar {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZones.named(timeZone)
        return c
    }

    /// The first moment at or after `now` (UTC ms) that satisfies `wait` in `timeZone`.
    ///
    /// - `time`: the next occurrence of that local time of day (today if not yet passed).
    /// - `days`: a day of the week in the set.
    /// - `window`: a local time inside the window (its start if before it).
    /// Combined, every given part must hold. A wall-clock time skipped by a DST
    /// change resolves to the first valid moment after it.
    public static func nextMoment(after now: Int64, satisfying wait: WaitUntil, timeZone: String) -> Int64 {
        let cal = calendar(timeZone)
        let start = Date(timeIntervalSince1970: Double(now) / 1000)
        // Look at most 8 local days ahead: every combination has a solution within a week.
        for dayOffset in 0..<8 {
            guard let day = cal.date(byAdding: .day, value: dayOffset, to: cal.startOfDay(for: start)) else { continue }
            let weekday = Weekday(rawValue: (cal.component(.weekday, from: day) + 5) % 7 + 1)!
            if let days = wait.days, !days.contains(weekday) { continue }
            // Candidate minutes of this local day, earliest first.
            var earliest = dayOffset == 0 ? minutesSinceMidnight(start, cal) : 0
            var latest = 24 * 60 - 1
            if let window = wait.window {
                earliest = max(earliest, window.lowerBound.minutes)
                latest = min(latest, window.upperBound.minutes)
            }
            var minute = earliest
            if let time = wait.time {
                guard time.minutes >= earliest, time.minutes <= latest else { continue }
                minute = time.minutes
            }
            guard minute <= latest else { continue }
            if dayOffset == 0 && minute == minutesSinceMidnight(start, cal) && wait.time == nil {
                return now  // already inside: go on at once
            }
            let moment =
                cal.date(
                    bySettingHour: minute / 60, minute: minute % 60, second: 0, of: day, matchingPolicy: .nextTime, repeatedTimePolicy: .first,
                    direction: .forward) ?? day
            let ms = Int64((moment.timeIntervalSince1970 * 1000).rounded())
            if ms >= now { return ms }
        }
        return now
    }

    static func minutesSinceMidnight(_ date: Date, _ cal: Calendar) -> Int {
        let c = cal.dateComponents([.hour, .minute], from: date)
        return (c.hour ?? 0) * 60 + (c.minute ?? 0)
    }
}
