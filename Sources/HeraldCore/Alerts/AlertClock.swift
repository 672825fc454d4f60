/// The time alert evaluation gives an event.
///
/// Page views carry the client's `timestamp`, and time on the page and the
/// "once a day" caps are computed from it. Trusted as is, a client could date
/// each view on another day and be alerted on as often as it likes, or claim
/// an hour on a page it saw for a second. So a timestamp further than
/// `maximumSkewMs` from the moment the ingestor accepted the event is replaced
/// by that moment: alerts are about what a contact does now.
public enum AlertClock {
    /// Five minutes: wider than the clock error of a healthy device and the
    /// delay of a tracking script's batch, far narrower than any cap period.
    public static let maximumSkewMs: Int64 = 300_000

    /// `event.timestamp`, or `event.receivedAt` when the two differ by more than `maximumSkewMs`.
    public static func time(of event: Event, maximumSkewMs: Int64 = maximumSkewMs) -> Int64 {
        let skew = event.timestamp.subtractingClamped(event.receivedAt)
        return skew.magnitude > UInt64(maximumSkewMs) ? event.receivedAt : event.timestamp
    }
}
