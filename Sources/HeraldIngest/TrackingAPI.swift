import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Hummingbird
import Logging

/// Email opens and clicks: `GET /v1/t/o` (the 1×1 image) and `GET /v1/t/c` (the
/// link redirect), both signed (`EmailTracking`). Each emits an event to
/// `herald.events.raw` — `email_opened` (id `<send id>:opened`: the first open
/// counts) or `email_clicked` (id per link) — with `campaign`, `template` and
/// `message_id`, so campaigns can trigger on them. A redirect with a bad token is
/// refused: the endpoint never sends anyone to a URL Herald did not sign.
struct TrackingAPI: Sendable {
    let messages: MessageStore
    let producer: KafkaProducer
    let secret: String
    let logger: Logger

    /// A transparent 1×1 GIF.
    static let pixel: [UInt8] = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
    ]

    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("v1/t/o") { request, _ -> Response in
            let q = request.uri.queryParameters
            let contact = q.get("contact").map { String($0) } ?? "", message = q.get("message").map { String($0) } ?? ""
            if !secret.isEmpty, EmailTracking.verifyOpen(q.get("token").map { String($0) } ?? "", secret: secret, contactId: contact, messageId: message) {
                await emit("email_opened", id: "\(message):opened", contact: contact, message: message, extra: [:])
            }
            // The image is always served: a mail client shows nothing broken.
            return Response(status: .ok, headers: [.contentType: "image/gif", .cacheControl: "no-store"], body: .init(byteBuffer: .init(bytes: Self.pixel)))
        }
        router.get("v1/t/c") { request, _ -> Response in
            let q = request.uri.queryParameters
            let contact = q.get("contact").map { String($0) } ?? "", message = q.get("message").map { String($0) } ?? ""
            let target = q.get("url").map { String($0) } ?? ""
            guard !secret.isEmpty, target.hasPrefix("http://") || target.hasPrefix("https://"),
                EmailTracking.verifyClick(q.get("token").map { String($0) } ?? "", secret: secret, contactId: contact, messageId: message, target: target)
            else { return APISupport.problem(.forbidden, "this link is not valid") }
            let linkId = String(Hashing.hex(Hashing.sha256(Array(target.utf8))).prefix(12))
            await emit("email_clicked", id: "\(message):clicked:\(linkId)", contact: contact, message: message, extra: ["url": .string(target)])
            return Response(status: .found, headers: [.location: target])
        }
    }

    /// Best effort: a lost open is better than a broken image or link.
    func emit(_ type: String, id: String, contact: String, message: String, extra: [String: JSONValue]) async {
        do {
            let stored = try await messages.message(contactId: contact, id: message)
            var properties = extra
            properties["message_id"] = .string(message)
            if let campaign = stored?["campaign"] { properties["campaign"] = .string(campaign) }
            if let request = stored?["request"].flatMap({ try? JSONValue.parse(string: $0) }) {
                if let template = request["template"]?.stringValue { properties["template"] = .string(template) }
                // So "opened an email of category X" can be asked of the profile (ContactActivity).
                if let category = request["category"]?.stringValue { properties["category"] = .string(category) }
            }
            let event: JSONValue = ["id": .string(id), "type": .string(type), "contact_id": .string(contact), "properties": .object(properties)]
            _ = try await producer.send(topic: Topics.eventsRaw, key: contact, value: event.serialized())
        } catch {
            logger.warning("could not record an email \(type)", metadata: ["herald.send_id": "\(message)", "herald.error": "\(error)"])
        }
    }
}
