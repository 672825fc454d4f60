import HeraldCore
import HeraldRedis
import Hummingbird
import Logging

/// `/v1/lists`: create (`POST {"id", "name"}`), list with member counts (`GET`),
/// show, rename (`PATCH {"name"}`) and delete (`DELETE`, which also takes every
/// member off the list). Reads need the read scope; changes, the admin scope.
public struct ListsAPI: Sendable {
    let store: ListStore
    let maxBodyBytes: Int
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system

    /// The list routes over `store`; bodies over `maxBodyBytes` get 413.
    public init(store: ListStore, maxBodyBytes: Int, logger: Logger) {
        self.store = store
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    /// Reads on `read`, changes on `admin`.
    public func addRoutes(read: some RouterMethods<BasicRequestContext>, admin: some RouterMethods<BasicRequestContext>) {
        read.get("v1/lists") { request, _ in
            await guarded { APISupport.json(.ok, try KeyedPage(try await store.all(), key: \.id, request: request, json: \.json).json("lists")) }
        }
        read.get("v1/lists/:id") { _, context in
            await guarded {
                let id = try Self.name(context.parameters.get("id"), field: "id")
                guard let entry = try await store.get(id) else { return APISupport.problem(.notFound, "no list '\(id)'") }
                return APISupport.json(.ok, entry.json)
            }
        }
        admin.post("v1/lists") { request, _ in
            await guarded {
                let body = try await Self.body(request, maxBytes: maxBodyBytes, allowed: ["id", "name"])
                let id = try Self.name(try Self.string(body, "id"), field: "id")
                let name = try Self.name(try Self.string(body, "name") ?? id, field: "name")
                guard try await store.create(id: id, name: name, now: clock.now()) else {
                    return APISupport.problem(.conflict, "list '\(id)' exists", field: "id")
                }
                return APISupport.json(.created, (try await store.get(id))?.json ?? ["id": .string(id)])
            }
        }
        admin.patch("v1/lists/:id") { request, context in
            await guarded {
                let id = try Self.name(context.parameters.get("id"), field: "id")
                let body = try await Self.body(request, maxBytes: maxBodyBytes, allowed: ["name"])
                let name = try Self.name(try Self.string(body, "name"), field: "name")
                guard try await store.rename(id, to: name) else { return APISupport.problem(.notFound, "no list '\(id)'") }
                return APISupport.json(.ok, (try await store.get(id))?.json ?? ["id": .string(id)])
            }
        }
        admin.delete("v1/lists/:id") { _, context in
            await guarded {
                let id = try Self.name(context.parameters.get("id"), field: "id")
                guard let removed = try await store.delete(id, now: clock.now()) else {
                    return APISupport.problem(.notFound, "no list '\(id)'")
                }
                return APISupport.json(.ok, ["id": .string(id), "deleted": true, "memberships_removed": .int(Int64(removed))])
            }
        }
    }

    /// A list id or name: 1 to 256 bytes, no control characters.
    static func name(_ text: String?, field: String) throws(ResponseError) -> String {
        guard let text, (1...256).contains(text.utf8.count), !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ResponseError(
                APISupport.problem(.badRequest, "\(field) must be 1 to 256 bytes without control characters", field: field))
        }
        return text
    }

    /// The member `key` of `body`: nil when absent, a 400 naming it when it is not a string
    /// (a `{}` name must not fall back to the default as if it were absent).
    static func string(_ body: [String: JSONValue], _ key: String) throws(ResponseError) -> String? {
        guard let value = body[key] else { return nil }
        guard let text = value.stringValue else { throw ResponseError(APISupport.problem(.badRequest, "\(key) must be a string", field: key)) }
        return text
    }

    /// A JSON object body with only `allowed` members.
    static func body(_ request: Request, maxBytes: Int, allowed: Set<String>) async throws(ResponseError) -> [String: JSONValue] {
        if let refusal = APISupport.refuseNonJSON(request) { throw ResponseError(refusal) }
        switch await APISupport.jsonBody(request, maxBytes: maxBytes) {
        case .failure(let refusal): throw ResponseError(refusal.response)
        case .success(let body):
            guard let o = body.objectValue else { throw ResponseError(APISupport.problem(.badRequest, "the body must be a JSON object", field: "")) }
            if let unknown = o.keys.sorted().first(where: { !allowed.contains($0) }) {
                throw ResponseError(APISupport.problem(.badRequest, "unknown field '\(unknown)'", field: unknown))
            }
            return o
        }
    }

    /// Runs `body`; a refusal is its answer, any other error an outage (503).
    func guarded(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let refusal as ResponseError { return refusal.response } catch {
            logger.warning("lists API could not reach Redis", metadata: ["redis.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "the list store is unavailable; retry", headers: [.retryAfter: "1"])
        }
    }
}
