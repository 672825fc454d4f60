/// A record Herald writes as bytes — on a Kafka topic or as a Redis value — and
/// reads back: one writer and one reader per record, named the same way for
/// every record, so a field added to one side cannot be forgotten on the other
/// without `WireRecordTests` failing.
///
/// The forms are JSON objects with their keys sorted, so equal records have
/// equal bytes (dedupe and tests compare bytes). Several records
/// write and read their bytes field by field rather than through a `JSONValue`
/// dictionary: those are the paths every message goes through, and the
/// dictionary's hashing was most of their cost (docs/benchmarks.md). The fuzzer
/// compares each such path with the dictionary it replaces (docs/fuzzing.md).
public protocol WireEncodable: Sendable {
    /// The record's bytes.
    func encoded() -> [UInt8]
}

/// The reading half of `WireRecord`; alone for a record that something other
/// than Swift writes (a contact's stored profile is written by a Lua script).
public protocol WireDecodable: Sendable {
    /// Reads the record from its bytes.
    /// - Throws: `JSONParseError` when the bytes are not JSON; otherwise a
    ///   `FieldError` (or the record's own error type, which names its field)
    ///   saying which field is missing or mistyped. A consumer's dead-letter
    ///   reason is this error's description.
    init(decoding bytes: [UInt8]) throws
}

/// A record with one writer and one reader.
public typealias WireRecord = WireDecodable & WireEncodable
