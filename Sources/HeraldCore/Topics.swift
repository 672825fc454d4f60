/// Herald's Kafka topics (DESIGN.md, "The fleet"). Every keyed topic has the same
/// partition count and is keyed by contact id.
public enum Topics {
    /// Raw events from bulk producers; validated by the ingestor.
    public static let eventsRaw = "herald.events.raw"
    /// Valid, deduplicated events, keyed by contact id.
    public static let events = "herald.events"
    /// Journey commands for the scheduler.
    public static let journeys = "herald.journeys"
    /// Send requests for the sender.
    public static let sends = "herald.sends"
    /// Records that could not be processed, with the reason in headers.
    public static let dlq = "herald.dlq"

    /// Every topic Herald creates at start-up.
    public static let all = [eventsRaw, events, journeys, sends, dlq]
}
