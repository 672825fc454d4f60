import Foundation

/// Herald's one reading of the wall clock: UTC milliseconds since 1970, the unit
/// of every stored time, score and due time.
///
/// Shell components (processors, pollers, sweepers, API handlers) take one as a
/// stored property that defaults to `.system`, so a test can run them on a clock
/// it moves by hand. Nothing else in `Sources` reads the system time.
///
/// Sleeping is not the wall clock's job: waits use `Task.sleep` and
/// `ContinuousClock`, which are monotonic, so a wall-clock step (NTP, a VM
/// resumed) neither stretches nor skips a wait. The wall clock only decides what
/// is due.
public struct WallClock: Sendable {
    private let reading: @Sendable () -> Int64

    /// A clock that reads `reading` for the time, in UTC milliseconds.
    public init(reading: @escaping @Sendable () -> Int64) {
        self.reading = reading
    }

    /// The machine's clock.
    public static let system = WallClock { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The time now, in UTC milliseconds since 1970.
    public func now() -> Int64 { reading() }

    /// The time now as a `Date` (whole milliseconds).
    public func date() -> Date { Date(timeIntervalSince1970: Double(reading()) / 1000) }
}
