/// An error that tells a dependency outage (Redis or the broker unreachable,
/// Redis read-only, loading or out of memory) from a failure of the input.
///
/// Consumers act on the difference (`KafkaConsumer`'s failure policy): an
/// outage is waited out and never dead-letters anything, since every record
/// would fail alike and none is to blame; any other repeated failure puts the
/// one record that causes it in `herald.dlq`, and the partition goes on.
public protocol DependencyFailure: Error {
    /// True when the same call can succeed once the dependency is back.
    var isOutage: Bool { get }
}
