import HeraldCore
import HeraldRedis
import Hummingbird
import Logging

/// `/v1/segments`: saved filters over the address book (docs/contacts.md,
/// "Segments"). `POST` creates (`{"id", "name", "where"}`), `PUT /{id}`
/// replaces, `GET` lists and shows, `DELETE` removes; `GET /{id}/count` counts
/// the members and `GET /{id}/contacts` pages through them. Reads need the read
/// scope; changes, the admin scope.
public struct SegmentsAPI: Sendable {
    let segments: SegmentStore
    let book: AddressBook
    let partitions: Int
    let maxBodyBytes: Int
    let logger: Logger
    var clock = WallClock.system

    /// The routes over these stores.
    public init(segments: SegmentStore, book: AddressBook, partitions: Int, maxBodyBytes: Int, logger: Logger) {
        self.segments = segments
        self.book = book
        self.partitions = partitions
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    /// Reads on `read`, changes on `admin`.
    public func addRoutes(read: some RouterMethods<BasicRequestContext>, admin: some RouterMethods<BasicRequestContext>) {
        read.get("v1/segments") { request, _ in
            await guarded { APISupport.json(.ok, try KeyedPage(try await segments.all(), key: \.id, request: request, json: \.json).json("segments")) }
        }
        read.get("v1/segments/:id") { _, context in
            await guarded { APISupport.json(.ok, try await segment(context).json) }
        }
        read.get("v1/segments/:id/count") { _, context in
            await guarded {
                let s = try await segment(context)
                return APISupport.json(.ok, ["id": .string(s.id), "count": .int(Int64(try await book.count(try s.filter(), now: clock.now())))])
            }
        }
        read.get("v1/segments/:id/contacts") { request, context in
            await guarded {
                let s = try await segment(context)
                let q = request.uri.queryParameters
                let limit = try AddressBookAPI.limit(q.get("limit").map { String($0) })
                let cursor = try q.get("cursor").map { text throws(ContactFilterError) in try AddressBookCursor(text: String(text), partitions: partitions) }
                let page = try await book.page(try s.filter(), from: cursor, limit: limit, now: clock.now())
                return APISupport.json(.ok, AddressBookAPI.json(page))
            }
        }
        admin.post("v1/segments") { request, _ in await guarded { try await save(request, id: nil) } }
        admin.put("v1/segments/:id") { request, context in await guarded { try await save(request, id: try Self.id(context.parameters.get("id"))) } }
        admin.delete("v1/segments/:id") { _, context in
            await guarded {
                let id = try Self.id(context.parameters.get("id"))
                guard try await segments.delete(id) else { return APISupport.problem(.notFound, "no segment '\(id)'") }
                return Response(status: .noContent)
            }
        }
    }

    func segment(_ context: BasicRequestContext) async throws -> SegmentStore.Segment {
        let id = try Self.id(context.parameters.get("id"))
        guard let s = try await segments.get(id) else { throw ResponseError(APISupport.problem(.notFound, "no segment '\(id)'")) }
        return s
    }

    /// POST (id from the body, 409 if taken) or PUT (id from the path, created or replaced).
    func save(_ request: Request, id pathId: String?) async throws -> Response {
        let body = try await ListsAPI.body(request, maxBytes: maxBodyBytes, allowed: pathId == nil ? ["id", "name", "where"] : ["name", "where"])
        let id = try pathId ?? Self.id(body["id"]?.stringValue)
        let name = try ListsAPI.name(body["name"]?.stringValue ?? id, field: "name")
        let condition: String
        switch body["where"] {
        case .string(let text)?: condition = text
        case let v? where v.objectValue != nil: condition = String(decoding: v.serialized(), as: UTF8.self)
        default: throw ResponseError(APISupport.problem(.badRequest, "where: a condition (an object, or YAML text) is required", field: "where"))
        }
        do { _ = try ContactFilter(list: nil, tag: nil, where: condition) } catch {
            throw ResponseError(APISupport.problem(.badRequest, error.description, field: "where"))
        }
        let now = clock.now()
        let createdAt = pathId == nil ? now : (try await segments.get(id)?.createdAt ?? now)
        let segment = SegmentStore.Segment(id: id, name: name, condition: condition, createdAt: createdAt, updatedAt: now)
        guard try await segments.save(segment, createOnly: pathId == nil) else {
            return APISupport.problem(.conflict, "segment '\(id)' exists", field: "id")
        }
        return APISupport.json(pathId == nil ? .created : .ok, segment.json)
    }

    /// A segment id: 1 to 64 of a-z, 0-9, `_` and `-` (campaigns name it).
    static func id(_ text: String?) throws(ResponseError) -> String {
        guard let text, AccountName.isValid(text) else {
            throw ResponseError(APISupport.problem(.badRequest, "id: 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit", field: "id"))
        }
        return text
    }

    func guarded(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let refusal as ResponseError { return refusal.response } catch let error as ContactFilterError {
            return APISupport.problem(.badRequest, error.description, field: error.parameter)
        } catch {
            logger.warning("segments API could not reach Redis", metadata: ["redis.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "the segment store is unavailable; retry", headers: [.retryAfter: "1"])
        }
    }
}
