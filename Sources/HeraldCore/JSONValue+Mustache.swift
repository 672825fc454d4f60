extension JSONValue {
    /// The value as Mustache walks it: dictionaries, arrays and scalars.
    public var mustacheObject: Any {
        switch self {
        case .null: return ""
        case .bool(let b): return b
        case .int(let i): return i
        case .double(let d): return d
        case .string(let s): return s
        case .array(let a): return a.map(\.mustacheObject)
        case .object(let o): return o.mapValues(\.mustacheObject)
        }
    }
}
