extension Duration {
    /// Whole milliseconds, rounded down: how Herald stores and sends durations.
    /// A duration past `Int64` milliseconds (about 292 million years) clamps
    /// rather than trapping; `DurationText` never parses one that long.
    public var milliseconds: Int64 {
        let (s, atto) = components
        let (ms, overflow) = s.multipliedReportingOverflow(by: 1000)
        return overflow ? (s > 0 ? .max : .min) : ms.addingClamped(atto / 1_000_000_000_000_000)
    }
}
