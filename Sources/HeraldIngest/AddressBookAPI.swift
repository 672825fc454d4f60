import HeraldCore
import HeraldRedis
import Hummingbird
import Logging
import NIOCore

/// The address book over HTTP: `GET /v1/contacts` lists contacts a page at a
/// time (or counts them, `count=true`) and `GET /v1/contacts.csv` exports them,
/// streamed. Both select with `list`, `tag` and `where` (a condition in the
/// campaign language, as JSON or YAML). Listing needs the read scope; the export
/// (every field of every selected contact at once) the admin scope.
public struct AddressBookAPI: Sendable {
    let book: AddressBook
    let segments: SegmentStore
    let partitions: Int
    let logger: Logger
    /// The wall clock (injected; `.system` in production): purchase periods count back from it.
    var clock = WallClock.system

    /// The routes over `book`, an address book of `partitions` shards.
    public init(book: AddressBook, segments: SegmentStore, partitions: Int, logger: Logger) {
        self.book = book
        self.segments = segments
        self.partitions = partitions
        self.logger = logger
    }

    /// Listing and counting on `read`, the export on `admin`.
    public func addRoutes(read: some RouterMethods<BasicRequestContext>, admin: some RouterMethods<BasicRequestContext>) {
        read.get("v1/contacts") { request, _ in await list(request) }
        admin.get("v1/contacts.csv") { request, _ in await export(request) }
    }

    /// The most contacts one page holds.
    static let maxLimit = 1000

    /// The request's `list`, `tag`, `where` and `segment` (a saved segment's condition), all of which must hold.
    func filter(_ request: Request) async throws -> ContactFilter {
        let q = request.uri.queryParameters
        let own = try ContactFilter(list: q.get("list").map { String($0) }, tag: q.get("tag").map { String($0) }, where: q.get("where").map { String($0) })
        guard let id = q.get("segment").map({ String($0) }) else { return own }
        guard AccountName.isValid(id), let segment = try await segments.get(id) else {
            throw ContactFilterError(parameter: "segment", "no segment '\(id)' (GET /v1/segments)")
        }
        let saved = try segment.filter()
        let parts = [own.condition, saved.condition].compactMap { $0 }
        return ContactFilter(condition: parts.count == 1 ? parts[0] : .all(parts))
    }

    /// A page size from its text: 1 to `maxLimit`, 100 when absent.
    static func limit(_ text: String?) throws(ContactFilterError) -> Int {
        guard let text else { return 100 }
        guard let n = Int(text), (1...maxLimit).contains(n) else { throw ContactFilterError(parameter: "limit", "must be 1 to \(maxLimit)") }
        return n
    }

    /// A page as the API answers it.
    static func json(_ page: AddressBook.Page) -> JSONValue {
        [
            "contacts": .array(page.profiles.map(\.json)), "next_cursor": page.next.map { .string($0.text) } ?? .null,
            "scanned": .int(Int64(page.scanned)),
        ]
    }

    func list(_ request: Request) async -> Response {
        let q = request.uri.queryParameters
        do {
            let filter = try await filter(request)
            // Checked before a count too: a bad parameter is refused whatever else the request asks.
            let limit = try Self.limit(q.get("limit").map { String($0) })
            let cursor = try q.get("cursor").map { text throws(ContactFilterError) in try AddressBookCursor(text: String(text), partitions: partitions) }
            if let count = q.get("count") {
                guard count == "true" else { throw ContactFilterError(parameter: "count", "must be true (or absent for a page)") }
                return APISupport.json(.ok, ["count": .int(Int64(try await book.count(filter, now: clock.now())))])
            }
            let page = try await book.page(filter, from: cursor, limit: limit, now: clock.now())
            return APISupport.json(.ok, Self.json(page))
        } catch let error as ContactFilterError {
            return APISupport.problem(.badRequest, error.description, field: error.parameter)
        } catch {
            logger.warning("address book could not reach Redis", metadata: ["redis.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "the profile store is unavailable; retry", headers: [.retryAfter: "1"])
        }
    }

    func export(_ request: Request) async -> Response {
        let filter: ContactFilter
        do { filter = try await self.filter(request) } catch let error as ContactFilterError {
            return APISupport.problem(.badRequest, error.description, field: error.parameter)
        } catch {
            return APISupport.problem(.serviceUnavailable, "the profile store is unavailable; retry", headers: [.retryAfter: "1"])
        }
        let chosen = request.uri.queryParameters.get("attributes").map { $0.split(separator: ",").map { String($0) }.filter { !$0.isEmpty } }
        let book = self.book, now = clock.now(), logger = self.logger
        // Streamed chunk by chunk: any number of contacts in bounded memory. A
        // Redis failure midway can only cut the body short (the status is sent):
        // the chunked body then has no last chunk, which a client sees as an error.
        let body = ResponseBody { writer in
            // Without `attributes`, the columns are those of the first chunk's contacts.
            var columns: ContactCSV? = chosen.map { ContactCSV(attributes: $0) }
            if let columns { try await writer.write(ByteBuffer(bytes: columns.header())) }
            do {
                try await book.forEach(filter, now: now) { profiles in
                    var out: [UInt8] = []
                    if columns == nil {
                        let c = ContactCSV(attributes: ContactCSV.attributeNames(profiles))
                        out = c.header()
                        columns = c
                    }
                    for p in profiles { columns?.append(p, to: &out) }
                    try await writer.write(ByteBuffer(bytes: out))
                }
                if columns == nil { try await writer.write(ByteBuffer(bytes: ContactCSV(attributes: []).header())) }
                try await writer.finish(nil)
            } catch {
                logger.warning("contact export stopped midway", metadata: ["herald.error": "\(error)"])
                throw error
            }
        }
        return Response(
            status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"contacts.csv\""], body: body)
    }
}
