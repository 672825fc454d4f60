import Foundation
import HeraldCore
import HeraldRedis
import Hummingbird
import Logging

/// Message states and one-click unsubscribe.
///
/// | route | keys |
/// |---|---|
/// | `GET /v1/contacts/{id}/messages` | API | the contact's newest messages (50) and their states |
/// | `GET /v1/contacts/{id}/messages/{message}` | API | one message |
/// | `GET /v1/campaigns/{id}/messages` | admin | how many of the campaign's messages are in each state |
/// | `GET`, `POST /v1/unsubscribe?contact=&message=&token=` | the link's token | `POST` (RFC 8058 one-click) sets `consent.email = false`; `GET` shows a confirmation form |
struct MessagesAPI: Sendable {
    let messages: MessageStore
    let contacts: ContactStore
    let unsubscribeSecret: String
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system

    /// `read` and `admin` require those scopes; `open` (the unsubscribe links) none: the link's token is the key.
    func addRoutes(
        read: some RouterMethods<BasicRequestContext>, admin: some RouterMethods<BasicRequestContext>, open router: some RouterMethods<BasicRequestContext>
    ) {
        read.get("v1/contacts/:id/messages") { request, context in
            await answer {
                let id = try ContactsAPI.contactId(context)
                // Newest first: the key orders by descending creation time, then id.
                let index = try await messages.messageIndex(contactId: id)
                let page = try KeyedPage(
                    index, key: { KeyedPage.newestFirst($0.score, $0.id) }, request: request, json: { .string($0.id) })
                let list = try await messages.messages(contactId: id, ids: page.items.compactMap(\.stringValue))
                let described = KeyedPage(items: list.map(Self.describe), next: page.next)
                return APISupport.json(.ok, described.json("messages", extra: ["contact_id": .string(id)]))
            }
        }
        read.get("v1/contacts/:id/messages/:message") { request, context in
            await answer {
                let id = try ContactsAPI.contactId(context), message = context.parameters.get("message") ?? ""
                guard let m = try await messages.message(contactId: id, id: message) else {
                    return APISupport.problem(.notFound, "no message '\(message)' for contact '\(id)'")
                }
                return APISupport.json(.ok, Self.describe(m))
            }
        }
        admin.get("v1/campaigns/:id/messages") { request, context in
            let id = context.parameters.get("id") ?? ""
            return await answer {
                let states = try await messages.states(campaign: id)
                return APISupport.json(.ok, ["campaign_id": .string(id), "states": .object(states.mapValues { .int(Int64($0)) })])
            }
        }
        router.get("v1/unsubscribe") { request, _ in await unsubscribe(request, confirm: false) }
        router.post("v1/unsubscribe") { request, _ in await unsubscribe(request, confirm: true) }
    }

    func answer(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let error as ResponseError { return error.response } catch {
            logger.error("messages API failed", metadata: ["herald.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "temporarily unavailable: \(error)")
        }
    }

    func unsubscribe(_ request: Request, confirm: Bool) async -> Response {
        let q = request.uri.queryParameters
        let contact = q.get("contact").map { String($0) } ?? "", message = q.get("message").map { String($0) } ?? ""
        let token = q.get("token").map { String($0) } ?? ""
        guard !unsubscribeSecret.isEmpty, !contact.isEmpty,
            UnsubscribeLink.verify(token, secret: unsubscribeSecret, contactId: contact, messageId: message)
        else { return APISupport.problem(.forbidden, "this unsubscribe link is not valid") }
        guard confirm else {
            // A GET (a mail client's prefetch, a click) changes nothing: it shows a button.
            let html = """
                <!doctype html><html><body><form method="post"><p>Stop receiving these emails?</p>\
                <button type="submit">Unsubscribe</button></form></body></html>
                """
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: .init(string: html)))
        }
        return await answer {
            var consent = try await contacts.get(contact)?.consent ?? [:]
            consent["email"] = false
            var change = ContactChange()
            change.fields["consent"] = .object(consent)
            _ = try await contacts.apply(change, to: contact, now: clock.now())
            logger.info("contact unsubscribed from email", metadata: ["herald.contact": "\(contact)", "herald.send_id": "\(message)"])
            return APISupport.json(.ok, ["contact_id": .string(contact), "unsubscribed": "email"])
        }
    }

    static func describe(_ m: [String: String]) -> JSONValue {
        var o: [String: JSONValue] = [:]
        for key in ["id", "state", "channel", "campaign", "reason", "contact"] { if let v = m[key], !v.isEmpty { o[key] = .string(v) } }
        for key in ["attempts", "created_ms", "updated_ms", "attempt_ms"] { if let v = m[key].flatMap({ Int64($0) }) { o[key] = .int(v) } }
        if m["state"] == "retry_scheduled", let next = m["next_ms"].flatMap({ Int64($0) }) { o["next_attempt_ms"] = .int(next) }
        return .object(o)
    }
}
