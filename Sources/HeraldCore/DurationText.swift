import Foundation

/// Herald's one duration grammar, for campaigns, alert rules and configuration:
/// a whole number and a unit — `250ms`, `30s`, `15m`, `2h`, `2d`, `1w`.
///
/// Every duration that comes from outside is range-checked here, where it is
/// parsed: Swift traps on overflow, and a trap stops the whole process (a
/// `wait: 99999999999999w` once stopped the ingestor from one admin request).
public enum DurationText {
    /// The longest duration Herald accepts anywhere: ten years (3,653 days). A
    /// campaign wait longer than that is a typo, and the bound keeps every
    /// `now + wait` far inside `Int64` milliseconds.
    public static let maximum: Duration = .seconds(3653 * 86_400)

    /// What went wrong with a duration, for an error message that names it.
    public enum Failure: Error, Equatable, Sendable {
        /// Not a number followed by one of the units.
        case notADuration
        /// A valid duration above `maximum` (or above the caller's own bound).
        case tooLong(maximum: Duration)
    }

    /// Parses `text`, refusing anything above `maximum` (at most `DurationText.maximum`).
    /// - Throws: `Failure.notADuration` or `Failure.tooLong`.
    public static func parse(_ text: String, maximum: Duration = DurationText.maximum) throws(Failure) -> Duration {
        let s = text.trimmingCharacters(in: .whitespaces)
        let units: [(suffix: String, ms: Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)]
        // Longest suffix first, so `ms` is not read as `m` followed by garbage.
        guard let unit = units.sorted(by: { $0.suffix.count > $1.suffix.count }).first(where: { s.hasSuffix($0.suffix) }) else {
            throw .notADuration
        }
        let digits = s.dropLast(unit.suffix.count)
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { throw .notADuration }
        let bound = min(maximum, Self.maximum)
        // More digits than Int64 holds is simply too long, not malformed.
        guard let n = Int64(digits) else { throw .tooLong(maximum: bound) }
        let (ms, overflow) = n.multipliedReportingOverflow(by: unit.ms)
        guard !overflow, ms <= bound.milliseconds else { throw .tooLong(maximum: bound) }
        return .milliseconds(ms)
    }

    /// `parse` without the reason, for callers that have their own message.
    public static func parseOrNil(_ text: String, maximum: Duration = DurationText.maximum) -> Duration? {
        try? parse(text, maximum: maximum)
    }

    /// A duration as the grammar writes it, in the largest unit that divides it: `2h`, `90s`, `3653d`.
    public static func format(_ d: Duration) -> String {
        let ms = d.milliseconds
        for (suffix, size) in [("w", Int64(604_800_000)), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms != 0 && ms % size == 0 {
            return "\(ms / size)\(suffix)"
        }
        return "\(ms)ms"
    }
}
