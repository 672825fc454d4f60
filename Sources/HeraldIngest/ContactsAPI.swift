import Foundation
import HeraldCore
import HeraldRedis
import Hummingbird
import Logging

/// `/v1/contacts/{id}`: `GET` the profile, `PUT` to replace it, `PATCH` to change
/// fields (attributes merge; `null` removes one; tags and lists are added), `DELETE`
/// to erase it. Reading needs the read scope; changing and erasing, the admin scope.
public struct ContactsAPI: Sendable {
    let store: ContactStore
    let journeys: JourneyStore
    /// Where the list and tag events of a change go (`herald.events`, deduplicated as any event).
    let intake: EventIntake
    /// Erasing a contact everywhere it is kept.
    let erasure: ContactErasure
    let maxBodyBytes: Int
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system

    /// The contact routes over these stores; bodies over `maxBodyBytes` get 413.
    public init(store: ContactStore, journeys: JourneyStore, intake: EventIntake, erasure: ContactErasure, maxBodyBytes: Int, logger: Logger) {
        self.store = store
        self.journeys = journeys
        self.intake = intake
        self.erasure = erasure
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    /// Reads go on `read` (a group requiring the read scope), changes on `admin`.
    public func addRoutes(read: some RouterMethods<BasicRequestContext>, admin: some RouterMethods<BasicRequestContext>) {
        read.get("v1/contacts/:id") { request, context in await handle(request, context, method: "GET") }
        admin.put("v1/contacts/:id") { request, context in await handle(request, context, method: "PUT") }
        admin.patch("v1/contacts/:id") { request, context in await handle(request, context, method: "PATCH") }
        admin.delete("v1/contacts/:id") { request, context in await handle(request, context, method: "DELETE") }
        read.get("v1/contacts/:id/journeys") { request, context in await handle(request, context, method: "JOURNEYS") }
    }

    func handle(_ request: Request, _ context: BasicRequestContext, method: String) async -> Response {
        let id: String
        do { id = try Self.contactId(context) } catch { return error.response }
        do {
            switch method {
            case "GET":
                guard let profile = try await store.get(id) else { return APISupport.problem(.notFound, "no contact '\(id)'") }
                return APISupport.json(.ok, profile.json)
            case "JOURNEYS":
                let page = try KeyedPage(
                    try await journeys.instances(of: id), key: { KeyedPage.oldestFirst($0.enteredAt, $0.id) }, request: request, json: Self.describe)
                return APISupport.json(.ok, page.json("journeys", extra: ["contact_id": .string(id)]))
            case "DELETE":
                // Everywhere the contact is kept, the profile last (`ContactErasure`).
                let existed = try await erasure.erase(id, now: clock.now())
                return existed ? Response(status: .noContent) : APISupport.problem(.notFound, "no contact '\(id)'")
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
                    return APISupport.problem(.badRequest, error.description, field: error.field)
                }
                // The list and tag events go out before the change is applied: if they
                // cannot, nothing changed and a retry is safe; once they are out, a retry
                // against the same profile makes the same event ids, which the intake drops.
                // (A change on the event stream between the read and the apply can make
                // one event too many or too few: the diff is against the profile as read.)
                let now = clock.now()
                let events = change.membershipEvents(before: try await store.get(id), contactId: id, now: now, source: "api")
                for case .retry(let why) in try await intake.accept(events) {
                    return APISupport.problem(.serviceUnavailable, "nothing changed: \(why); retry", headers: [.retryAfter: "1"])
                }
                let profile = try await store.apply(change, to: id, now: now)
                return APISupport.json(.ok, profile.json)
            }
        } catch let error as ResponseError {
            return error.response
        } catch let error as ProfileTooLarge {
            return APISupport.problem(.unprocessableContent, error.description)
        } catch {
            logger.warning("contacts API could not reach Redis", metadata: ["redis.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "the profile store is unavailable; retry", headers: [.retryAfter: "1"])
        }
    }
}

extension ContactsAPI {
    /// The path's contact id: 1 to 256 bytes, as events' `contact_id`; otherwise a 400 naming it.
    static func contactId(_ context: BasicRequestContext) throws(ResponseError) -> String {
        guard let id = context.parameters.get("id"), !id.isEmpty, id.utf8.count <= 256 else {
            throw ResponseError(APISupport.problem(.badRequest, "the contact id must be 1 to 256 bytes", field: "id"))
        }
        return id
    }

    /// A journey as `GET /v1/contacts/{id}/journeys` shows it.
    static func describe(_ i: JourneyInstance) -> JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(i.id), "campaign_id": .string(i.campaignId), "version": .int(Int64(i.version)),
            "step": .string(i.stepId), "entered_at_ms": .int(i.enteredAt), "test": .bool(i.isTest),
        ]
        switch i.status {
        case .running: o["status"] = "active"
        case .waiting(let until):
            o["status"] = "active"
            o["next_wake_up_ms"] = .int(until)
        case .completed(let at):
            o["status"] = "completed"
            o["ended_at_ms"] = .int(at)
        case .exited(let reason, let at):
            o["status"] = "exited"
            o["reason"] = .string(reason.rawValue)
            o["ended_at_ms"] = .int(at)
        }
        return .object(o)
    }
}
