import Foundation
import HeraldCore
import Hummingbird

/// Cursor pagination of a collection the API reads whole: campaigns, alert rules,
/// lists, segments, broadcasts, and one contact's messages or journeys (all
/// bounded: by what operators write, or by a contact's retention). The address
/// book and a broadcast's recipients page through Redis instead (`AddressBookCursor`).
///
/// Items are ordered by a unique key and the cursor is the last key of the page
/// before, base64url-encoded so clients treat it as opaque. So a page starts
/// after that key whatever was added or removed since: no item that stays is
/// skipped or repeated. `next_cursor` is null on the last page.
struct KeyedPage {
    /// The page's items in key order.
    let items: [JSONValue]
    /// Where the next page starts; nil on the last.
    let next: String?

    /// The page that `request`'s `limit` (1 to `AddressBookAPI.maxLimit`, 100 when
    /// absent) and `cursor` select from `items`, each with its `key`.
    /// - Throws: `ResponseError`, a 400 naming `limit` or `cursor`.
    init<T>(_ items: [T], key: (T) -> String, request: Request, json: (T) -> JSONValue) throws(ResponseError) {
        let q = request.uri.queryParameters
        let limit: Int
        do { limit = try AddressBookAPI.limit(q.get("limit").map { String($0) }) } catch {
            throw ResponseError(APISupport.problem(.badRequest, error.description, field: "limit"))
        }
        var after: String?
        if let text = q.get("cursor") {
            guard let key = Self.decode(String(text)) else {
                throw ResponseError(APISupport.problem(.badRequest, "cursor: not a cursor this list gave (use next_cursor as given)", field: "cursor"))
            }
            after = key
        }
        let sorted = items.map { (key: key($0), item: $0) }.sorted { $0.key < $1.key }
        let start = after.map { a in sorted.firstIndex { $0.key > a } ?? sorted.count } ?? 0
        let end = min(sorted.count, start + limit)
        self.items = sorted[start..<end].map { json($0.item) }
        self.next = end < sorted.count ? Self.encode(sorted[end - 1].key) : nil
    }

    /// A page already cut.
    init(items: [JSONValue], next: String?) {
        self.items = items
        self.next = next
    }

    /// A key that sorts older `ms` first, then by `id`.
    static func oldestFirst(_ ms: Int64, _ id: String) -> String { padded(max(0, ms)) + " " + id }

    /// A key that sorts newer `ms` first, then by `id`.
    static func newestFirst(_ ms: Int64, _ id: String) -> String { padded(Int64.max - max(0, ms)) + " " + id }

    private static func padded(_ n: Int64) -> String {
        let digits = String(n)
        return String(repeating: "0", count: 19 - digits.count) + digits
    }

    /// The answer's body: the items under `name` and `next_cursor`, plus `extra`.
    func json(_ name: String, extra: [String: JSONValue] = [:]) -> JSONValue {
        var o = extra
        o[name] = .array(items)
        o["next_cursor"] = next.map(JSONValue.string) ?? .null
        return .object(o)
    }

    static func encode(_ key: String) -> String {
        Data(key.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// The key a cursor holds; nil for text no list gave. 4,096 characters hold
    /// the longest key (a campaign id has no bound of its own but the body's).
    static func decode(_ text: String) -> String? {
        guard text.utf8.count <= 4096, text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var b64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        b64 += String(repeating: "=", count: (4 - b64.count % 4) % 4)
        guard let data = Data(base64Encoded: b64) else { return nil }
        return String(data: data, encoding: .utf8)
    }
}
