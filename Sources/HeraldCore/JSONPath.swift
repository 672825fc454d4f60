/// One step into a JSON document: an object's member or an array's element
/// (`["messages", 0, "id"]`).
public enum JSONPathStep: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    case key(String)
    case index(Int)

    /// A string literal is an object key.
    public init(stringLiteral value: String) { self = .key(value) }
    /// An integer literal is an array index.
    public init(integerLiteral value: Int) { self = .index(value) }
}

extension JSONValue {
    /// The string at `path` in the JSON document `bytes`; nil when the path is
    /// not there, its value is not a string, or the bytes are not one JSON
    /// document. Read without building the document: the sender reads one id
    /// from every provider answer (`messages[0].id`), and parsing each whole
    /// answer into dictionaries cost about 3 % of its CPU.
    public static func string(at path: [JSONPathStep], in bytes: [UInt8]) -> String? {
        bytes.withUnsafeBufferPointer { buffer -> String? in
            var parser = JSONParser(bytes: buffer)
            var found: String?
            do {
                try parser.parseWholeDocument { parser throws(JSONParseError) in found = try parser.string(at: path[...]) }
            } catch {
                return nil
            }
            return found
        }
    }
}

extension JSONParser {
    /// Reads the value at the current position in full and returns the string
    /// at `path` inside it (nil: none).
    mutating func string(at path: ArraySlice<JSONPathStep>) throws(JSONParseError) -> String? {
        guard let step = path.first else {
            if case .string(let s) = try parseValue() { return s }
            return nil
        }
        var found: String?
        switch step {
        case .key(let name):
            guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else {
                try skipValue()
                return nil
            }
            try parseMembers { key, parser throws(JSONParseError) in
                if key == name { found = try parser.string(at: path.dropFirst()) } else { try parser.skipValue() }
            }
        case .index(let wanted):
            guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else {
                try skipValue()
                return nil
            }
            try parseElements { i, parser throws(JSONParseError) in
                if i == wanted { found = try parser.string(at: path.dropFirst()) } else { try parser.skipValue() }
            }
        }
        return found
    }
}

/// Chosen members of one JSON object, read member by member: for decoders of a
/// known shape (`SendRequest(decoding:)`, `ContactProfile(decoding:)`),
/// which then skip building the object's dictionary. Other members are checked
/// as JSON but not kept.
struct JSONMembers {
    let keys: [String]
    let values: [JSONValue?]

    /// Reads the object `bytes`.
    /// - Throws: `JSONParseError` when the bytes are not one JSON object.
    init(_ keys: [String], of bytes: [UInt8]) throws(JSONParseError) {
        var values = [JSONValue?](repeating: nil, count: keys.count)
        try bytes.withUnsafeBufferPointer { buffer throws(JSONParseError) in
            var parser = JSONParser(bytes: buffer)
            try parser.parseObjectMembers { key, parser throws(JSONParseError) in
                // A linear search: a few small strings compare faster than they hash.
                if let i = keys.firstIndex(of: key) { values[i] = try parser.parseValue() } else { try parser.skipValue() }
            }
        }
        self.keys = keys
        self.values = values
    }

    /// A member's value; nil when absent. Asking for a key not in `keys` is a
    /// decoder's bug (it would read as absent), so debug builds stop on it.
    subscript(_ key: String) -> JSONValue? {
        guard let i = keys.firstIndex(of: key) else {
            assertionFailure("JSONMembers: '\(key)' was not read")
            return nil
        }
        return values[i]
    }
}
