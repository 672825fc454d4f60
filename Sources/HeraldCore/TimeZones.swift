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
}
