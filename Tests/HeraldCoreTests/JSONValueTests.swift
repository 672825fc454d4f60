import HeraldCore
import Testing

@Suite("JSON parsing and serialising")
struct JSONValueTests {
    @Test("parses every JSON type and keeps 64-bit integers exact")
    func parsesTypes() throws {
        let v = try JSONValue.parse(string: #"{"a":[1,-2.5,true,false,null,"x"],"big":9007199254740993,"e":1e3,"s":"\u00e9\ud83d\ude00\n"}"#)
        #expect(v["a"] == .array([.int(1), .double(-2.5), .bool(true), .bool(false), .null, .string("x")]))
        #expect(v["big"] == .int(9_007_199_254_740_993))
        #expect(v["e"] == .double(1000))
        #expect(v["s"] == .string("é😀\n"))
    }

    @Test("integers read exactly at every length; beyond 64 bits they become doubles")
    func integers() throws {
        for i: Int64 in [0, -1, 7, -42, 999_999_999_999_999_999, -999_999_999_999_999_999, 1_000_000_000_000_000_000, .max, .min] {
            #expect(try JSONValue.parse(string: String(i)) == .int(i))
        }
        #expect(try JSONValue.parse(string: "-0") == .int(0))
        #expect(try JSONValue.parse(string: "92233720368547758070") == .double(Double("92233720368547758070")!))
    }

    @Test(
        "round-trips through its serialised form",
        arguments: [
            #"{"a":1,"b":[true,null,"q\"uote\\"],"c":{"d":-0.5}}"#,
            #"[]"#, #"{}"#, #""\u0001 tab\t""#,
        ])
    func roundTrip(text: String) throws {
        let v = try JSONValue.parse(string: text)
        #expect(try JSONValue.parse(v.serialized()) == v)
    }

    @Test(
        "rejects malformed documents with the byte offset",
        arguments: [
            ("{\"a\":1,}", "expected a string key"), ("[1 2]", "expected ',' or ']'"), ("{\"a\":01}", "expected ',' or '}'"),
            ("\"abc", "unterminated string"), ("{\"a\":1,\"a\":2}", "duplicate key 'a'"), ("nul", "unexpected end of input"), ("nulx", "invalid literal"),
            ("", "unexpected end of input"), ("[1]x", "unexpected data after the JSON document"), ("\"\\ud800\"", "unpaired surrogate"),
        ])
    func rejectsMalformed(text: String, reason: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(string: text) }
        do {
            _ = try JSONValue.parse(string: text)
        } catch {
            #expect(error.reason.contains(reason) || error.description.contains(reason), "\(error)")
        }
    }

    @Test("a string at a path is read without the document: members, elements, absent or non-string values, broken documents")
    func stringAtPath() {
        let answer = Array(
            #"{"messaging_product":"whatsapp","contacts":[{"input":"+420601","wa_id":"420601"}],"messages":[{"id":"wamid.A\u00e9"},{"id":"wamid.B"}]}"#.utf8)
        #expect(JSONValue.string(at: ["messages", 0, "id"], in: answer) == "wamid.Aé")
        #expect(JSONValue.string(at: ["messages", 1, "id"], in: answer) == "wamid.B")
        #expect(JSONValue.string(at: ["contacts", 0, "wa_id"], in: answer) == "420601")
        #expect(JSONValue.string(at: ["messages", 2, "id"], in: answer) == nil)
        #expect(JSONValue.string(at: ["messages", 0], in: answer) == nil, "an object is not a string")
        #expect(JSONValue.string(at: ["messages", "id"], in: answer) == nil, "an array has no members")
        #expect(JSONValue.string(at: ["sid"], in: Array(#" {"sid":"SM1","status":"queued","n":[1,{"x":[]}]} "#.utf8)) == "SM1")
        // The whole document must be JSON, as parse() requires, even past the value found.
        for broken in [#"{"sid":"SM1","#, #"{"sid":"SM1"} x"#, #"{"sid":"SM1","sid":"SM2"}"#, #"{"sid":"SM1","n":[1,}"#, ""] {
            #expect(JSONValue.string(at: ["sid"], in: Array(broken.utf8)) == nil, "\(broken)")
            #expect((try? JSONValue.parse(Array(broken.utf8))) == nil, "\(broken)")
        }
    }

    @Test("strings: ASCII and raw UTF-8 read as they are; invalid UTF-8 is refused, with or without escapes")
    func stringEncodings() throws {
        #expect(try JSONValue.parse(string: #"["plain","Věra 😀"]"#) == .array(["plain", "Věra 😀"]))
        for bad: [UInt8] in [[0x22, 0xC3, 0x28, 0x22], [0x22, 0x61, 0xFF, 0x22], [0x22, 0x5C, 0x6E, 0xC3, 0x22]] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(bad) }
        }
    }

    @Test("refuses nesting deeper than 64 levels")
    func depthLimit() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(string: deep) }
        let ok = String(repeating: "[", count: 60) + String(repeating: "]", count: 60)
        #expect(throws: Never.self) { try JSONValue.parse(string: ok) }
    }
}

@Suite("RFC 3339")
struct RFC3339Tests {
    @Test(
        "parses offsets and fractions to UTC milliseconds",
        arguments: [
            ("1970-01-01T00:00:00Z", Int64(0)),
            ("2026-11-22T19:13:38Z", Int64(1_795_374_818_000)),
            ("2026-11-22T20:13:38.5+01:00", Int64(1_795_374_818_500)),
            ("2024-02-29t23:59:59.999-00:30", Int64(1_709_252_999_999)),
            ("1969-12-31T23:59:59Z", Int64(-1000)),
        ])
    func parses(text: String, expected: Int64) {
        #expect(RFC3339.parseMilliseconds(text) == expected)
    }

    @Test(
        "rejects what is not RFC 3339",
        arguments: [
            "2026-11-22", "2026-11-22T19:13:38", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-22T24:00:00Z",
            "2026-11-22T19:13:38+0100", "yesterday", "2026-11-22T19:13:38.Z", "2026-11-22T19:13:38Zjunk",
        ])
    func rejects(text: String) {
        #expect(RFC3339.parseMilliseconds(text) == nil)
    }

    @Test("formats and parses back")
    func formatRoundTrip() {
        for ms: Int64 in [0, 1, 999, 1_795_374_818_123, -1, 951_782_400_000] {
            #expect(RFC3339.parseMilliseconds(RFC3339.format(milliseconds: ms)) == ms)
        }
        #expect(RFC3339.format(milliseconds: 1_795_374_818_123) == "2026-11-22T19:13:38.123Z")
        #expect(RFC3339.format(milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(RFC3339.format(milliseconds: -1) == "1969-12-31T23:59:59.999Z")
        #expect(RFC3339.format(milliseconds: 951_825_600_007) == "2000-02-29T12:00:00.007Z")
        #expect(RFC3339.date(milliseconds: 1_795_374_818_123) == "2026-11-22")
    }
}

@Suite("Shard")
struct ShardTests {
    // Reference values from Kafka's Java Utils.murmur2 (also in librdkafka's rdmurmur2.c unit test).
    @Test(
        "murmur2 matches Kafka's reference vectors",
        arguments: [
            ("kafka", UInt32(0xd067cf64)), ("giberish123456789", UInt32(0x8f552b0c)), ("1234", UInt32(0x9fc97b14)),
            ("234", UInt32(0xe7c009ca)), ("34", UInt32(0x873930da)), ("4", UInt32(0x5a4b5ca1)),
            ("PreAmbleWillBeRemoved,ThePrePartThatIs", UInt32(0x78424f1c)), ("reAmbleWillBeRemoved,ThePrePartThatIs", UInt32(0x4a62b377)),
            ("eAmbleWillBeRemoved,ThePrePartThatIs", UInt32(0xe0e4e09e)), ("AmbleWillBeRemoved,ThePrePartThatIs", UInt32(0x62b8b43f)),
            ("", UInt32(0x106e08d9)),
        ])
    func murmur2Vectors(key: String, expected: UInt32) {
        #expect(Shard.murmur2(Array(key.utf8)) == expected)
    }

    @Test("shards stay in range and spread")
    func range() {
        var counts = [Int](repeating: 0, count: 24)
        for i in 0..<24_000 { counts[Shard.of("contact-\(i)", partitions: 24)] += 1 }
        #expect(counts.allSatisfy { $0 > 700 && $0 < 1300 })
        #expect(Shard.hashTag(17) == "{17}")
    }
}
