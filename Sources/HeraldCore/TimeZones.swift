import Foundation
import Synchronization

/// IANA time zones by name, looked up once each.
///
/// `TimeZone(identifier:)` reads and parses the zone's tzdata on every call; on the
/// alerter's path (a local day per matched view) it was about 4 % of the CPU.
public enum TimeZones {
    private static let cache = Mutex<[String: TimeZone]>([:])

    /// The zone named `identifier`, or UTC for a name that is not a zone (callers
    /// validate names when rules and campaigns are saved).
    public static func named(_ identifier: String) -> TimeZone {
        if let known = cache.withLock({ $0[identifier] }) { return known }
        let zone = TimeZone(identifier: identifier) ?? TimeZone(identifier: "UTC")!
        cache.withLock { $0[identifier] = zone }
        return zone
    }

    private static let known = Mutex<[String: Bool]>([:])

    /// Whether `name` is an IANA zone (or `UTC`), answered once per name: send
    /// requests carry a zone, and every one is checked where it is read.
    public static func isKnown(_ name: String) -> Bool {
        if let answer = known.withLock({ $0[name] }) { return answer }
        let answer = name == "UTC" || (name.utf8.count <= 64 && TimeZone(identifier: name) != nil)
        known.withLock { if $0.count < 10_000 { $0[name] = answer } }
        return answer
    }
}
