import HeraldCore
import HeraldRedis
import Hummingbird
import Logging

/// `/v1/contacts/{id}`: `GET` the profile, `PUT` to replace it, `PATCH` to change
/// fields (attributes merge; `null` removes one; tags and lists are added), `DELETE`
/// to erase it. The same API keys as events.
public struct ContactsAPI: Sendable {
    let store: ContactStore
    let apiKeys: Set<String>
    let maxBodyBytes: Int
    let logger: Logger

    public init(store: ContactStore, apiKeys: Set<String>, maxBodyBytes: Int, logger: Logger) {
        self.store = store
        self.apiKeys = apiKeys
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    public func addRoutes(to router: Router<BasicRequestContext>) {
        router.get("v1/contacts/:id") { request, context in await handle(request, context, method: "GET") }
        router.put("v1/contacts/:id") { request, context in await handle(request, context, method: "PUT") }
        router.patch("v1/contacts/:id") { request, context in await handle(request, context, method: "PATCH") }
        router.delete("v1/contacts/:id") { request, context in await handle(request, context, method: "DELETE") }
    }

    func handle(_ request: Request, _ context: BasicRequestContext, method: String) async -> Response {
        if let refusal = APISupport.refuseUnauthorized(request, keys: apiKeys) { return refusal }
        guard let id = context.parameters.get("id"), !id.isEmpty, id.utf8.count <= 256 else {
            return APISupport.json(.badRequest, ["error": "the contact id must be 1 to 256 bytes", "field": "id"])
        }
        do {
            switch method {
            case "GET":
                guard let profile = try await store.get(id) else { return APISupport.json(.notFound, ["error": "no contact '\(id)'"]) }
                return APISupport.json(.ok, profile.json)
            case "DELETE":
                let existed = try await store.delete(id)
                return existed ? Response(status: .noContent) : APISupport.json(.notFound, ["error": "no contact '\(id)'"])
            default:
                if let refusal = APISupport.refuseNonJSON(request) { return refusal }
                let body: JSONValue
                switch await APISupport.jsonBody(request, maxBytes: maxBodyBytes) {
                case .success(let b): body = b
                case .failure(let refusal): return refusal.response
                }
                let change: ContactChange
                do {
                    change = try ContactInput.change(fromBody: body, replace: method == "PUT")
                } catch {
                    return APISupport.json(.badRequest, ["error": .string(error.description), "field": .string(error.field)])
                }
                let profile = try await store.apply(change, to: id, now: Int64(Date.nowMilliseconds))
                return APISupport.json(.ok, profile.json)
            }
        } catch {
            logger.warning("contacts API could not reach Redis", metadata: ["redis.error": "\(error)"])
            return APISupport.json(.serviceUnavailable, ["error": "the profile store is unavailable; retry"], headers: [.retryAfter: "1"])
        }
    }
}

import Foundation
