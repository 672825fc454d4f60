/// Arithmetic on UTC-millisecond times that cannot trap.
///
/// Stored times come back from Redis and Kafka, where a damaged or hand-edited
/// record can hold any `Int64`; `+` on such a value would trap and stop every
/// worker that reads the record, again after each restart. Clamping keeps the
/// result ordered (a far-future time stays far in the future) without a trap.
extension Int64 {
    /// `self + other`, clamped to `Int64.min...Int64.max`.
    public func addingClamped(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self - other`, clamped to `Int64.min...Int64.max`.
    public func subtractingClamped(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : difference
    }
}
