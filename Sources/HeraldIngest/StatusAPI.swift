import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Hummingbird
import Logging

/// Delivery statuses from providers.
///
/// - `GET /v1/status/whatsapp`: Meta's verification handshake — answers
///   `hub.challenge` when `hub.verify_token` is `whatsapp.verify_token`.
/// - `POST /v1/status/whatsapp`: status notifications (`biz_opaque_callback_data`
///   names the message: `MessageReference`), accepted only with a valid
///   `X-Hub-Signature-256` (HMAC-SHA256 of the raw body under `whatsapp.app_secret`).
/// - `POST /v1/status/twilio`: Twilio's `StatusCallback` form (`MessageSid`,
///   `MessageStatus`, `ErrorCode`; the query names the message), accepted only
///   with a valid `X-Twilio-Signature` under `sender.twilio_auth_token`. Twilio signs the URL it called: Herald
///   checks it as `sender.public_url` + path (the URL the sender handed Twilio),
///   and as `http://` + the `Host` header + path for a direct connection.
///
/// Each status moves the message's state forward only (a late `delivered` after
/// `read` changes nothing) and, when it did change it, emits `message_sent`,
/// `message_delivered`, `message_read` or `message_failed` to `herald.events.raw`
/// with the id `<send id>:<state>` — so a redelivered webhook is a duplicate event.
struct StatusAPI: Sendable {
    let messages: MessageStore
    /// Template updates change the synced catalogue and pause the broadcasts that use a stopped template.
    let templates: WhatsAppCatalog
    let broadcasts: BroadcastStore
    let producer: KafkaProducer
    let verifyToken: String
    let appSecret: String
    let twilioAuthToken: String
    let publicURL: String
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("v1/status/whatsapp") { request, _ -> Response in
            let q = request.uri.queryParameters
            guard !verifyToken.isEmpty, q.get("hub.mode") == "subscribe", Hashing.secretsEqual(q.get("hub.verify_token") ?? "", verifyToken),
                let challenge = q.get("hub.challenge")
            else { return APISupport.problem(.forbidden, "verification failed") }
            return Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: .init(string: String(challenge))))
        }
        router.post("v1/status/whatsapp") { request, _ -> Response in
            let body = Array(buffer: try await request.body.collect(upTo: 1 << 20))
            let expected = "sha256=" + Hashing.hex(Hashing.hmacSHA256(key: Array(appSecret.utf8), message: body))
            guard !appSecret.isEmpty, let presented = request.headers[.init("X-Hub-Signature-256")!], Hashing.secretsEqual(presented, expected) else {
                return APISupport.problem(.unauthorized, "missing or invalid X-Hub-Signature-256")
            }
            guard let json = try? JSONValue.parse(body) else { return APISupport.problem(.badRequest, "the body is not JSON") }
            let updates = ProviderStatus.whatsAppTemplateUpdates(json)
            if !updates.isEmpty, let refusal = await applyTemplates(updates) { return refusal }
            return await apply(ProviderStatus.whatsApp(json))
        }
        router.post("v1/status/twilio") { request, _ -> Response in
            let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
            let form = URLEncoding.parseForm(text)
            let path = request.uri.description
            let candidates = ["\(publicURL)\(path)"] + (request.head.authority.map { ["http://\($0)\(path)"] } ?? [])
            guard !twilioAuthToken.isEmpty, let presented = request.headers[.init("X-Twilio-Signature")!],
                candidates.contains(where: { TwilioSignature.matches(presented, url: $0, parameters: form, authToken: twilioAuthToken) })
            else { return APISupport.problem(.unauthorized, "missing or invalid X-Twilio-Signature") }
            // The query of the `StatusCallback` the sender gave (signed with the rest) names the message.
            guard let status = ProviderStatus.twilio(form: form, query: request.uri.query) else {
                return APISupport.problem(.badRequest, "MessageSid and MessageStatus are required")
            }
            return await apply([status])
        }
    }

    /// Records each template's new status and pauses the broadcasts using a
    /// template that can no longer be sent; nil when done, else the 503 that
    /// makes Meta deliver the webhook again (applying it twice is harmless).
    func applyTemplates(_ updates: [ProviderStatus.TemplateUpdate]) async -> Response? {
        do {
            for u in updates {
                if let status = u.status { try await templates.setStatus(name: u.name, language: u.language, status: status) }
                guard u.stopsSending else { continue }
                let paused = try await broadcasts.pauseUsing(template: u.name, language: u.language, reason: u.description, now: clock.now())
                logger.warning(
                    "WhatsApp template can no longer be sent; broadcasts using it paused",
                    metadata: ["herald.template": "\(u.name)", "herald.reason": "\(u.description)", "herald.paused": "\(paused.joined(separator: ","))"])
            }
            return nil
        } catch {
            logger.error("could not apply template updates", metadata: ["herald.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "could not record the template update; retry", headers: [.retryAfter: "1"])
        }
    }

    func apply(_ statuses: [ProviderStatus]) async -> Response {
        do {
            var events: [KafkaOutgoingRecord] = []
            for s in statuses {
                guard let state = s.state else { continue }
                guard let result = try await messages.applyStatus(providerId: s.providerId, reference: s.reference, state, reason: s.error, now: clock.now())
                else {
                    logger.info(
                        "status for an unknown message", metadata: ["herald.provider_id": "\(s.providerId)", "herald.reference": "\(s.reference?.text ?? "")"])
                    continue
                }
                guard result.changed else { continue }
                let name = state == .sendingFailed ? "failed" : state.rawValue
                let r = result.request
                let event: JSONValue = [
                    "id": .string("\(r.id):\(name)"), "type": .string("message_\(name)"), "contact_id": .string(r.contactId),
                    "properties": [
                        "message_id": .string(r.id), "campaign_id": .string(r.campaignId), "channel": .string(r.channel.rawValue),
                        "template": .string(r.template),
                    ],
                ]
                events.append(KafkaOutgoingRecord(topic: Topics.eventsRaw, key: r.contactId, value: event.serialized()))
            }
            for case .failure(let error) in await producer.send(events) { throw error }
            return APISupport.json(.ok, ["applied": .int(Int64(statuses.count))])
        } catch {
            // 5xx: the provider retries the webhook; applying twice is harmless.
            logger.error("could not apply provider statuses", metadata: ["herald.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "temporarily unavailable")
        }
    }
}
