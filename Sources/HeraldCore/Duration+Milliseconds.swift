extension Duration {
    /// Whole milliseconds, rounded down: how Herald stores and sends durations.
    public var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
