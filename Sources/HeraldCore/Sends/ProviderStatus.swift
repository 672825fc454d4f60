/// One status of one message, as a provider's status webhook reported it.
///
/// The readers take the body as the provider sends it (after its signature was
/// checked) and keep what Herald needs; anything else in the body is ignored,
/// and an entry without an id or a status is skipped, never an error.
public struct ProviderStatus: Sendable, Equatable {
    /// The provider's id of the message (`wamid.…`, a Twilio `SM…` sid).
    public var providerId: String
    /// Herald's name for the message, when the callback carries it (messages sent
    /// before senders gave it are found by `providerId`).
    public var reference: MessageReference?
    /// The provider's word for the status (`sent`, `delivered`, `undelivered`, …).
    public var status: String
    /// The provider's error, for the message's record (empty when none).
    public var error: String

    /// A status as the provider reported it.
    public init(providerId: String, reference: MessageReference?, status: String, error: String) {
        self.providerId = providerId
        self.reference = reference
        self.status = status
        self.error = error
    }

    /// The message state the status moves to, or nil for one that changes nothing
    /// (queued, accepted, sending, or a word Herald does not know).
    public var state: MessageState? {
        switch status {
        case "sent": .sent
        case "delivered": .delivered
        case "read": .read
        case "failed", "undelivered": .sendingFailed
        default: nil
        }
    }

    /// The statuses of a WhatsApp Cloud API webhook
    /// (`entry[].changes[].value.statuses[]`); the sender put the message's
    /// reference in `biz_opaque_callback_data`.
    public static func whatsApp(_ body: JSONValue) -> [ProviderStatus] {
        var statuses: [ProviderStatus] = []
        for entry in body["entry"]?.arrayValue ?? [] {
            for change in entry["changes"]?.arrayValue ?? [] {
                for s in change["value"]?["statuses"]?.arrayValue ?? [] {
                    guard let id = s["id"]?.stringValue, let status = s["status"]?.stringValue else { continue }
                    let error = s["errors"]?.arrayValue?.first.map { "WhatsApp \(code($0["code"])): \($0["title"]?.stringValue ?? "")" } ?? ""
                    let reference = s["biz_opaque_callback_data"]?.stringValue.flatMap(MessageReference.init(text:))
                    statuses.append(ProviderStatus(providerId: id, reference: reference, status: status, error: error))
                }
            }
        }
        return statuses
    }

    /// Meta's error code as its digits (it is a JSON number; a string is kept as is).
    private static func code(_ value: JSONValue?) -> String {
        switch value {
        case .int(let n): String(n)
        case .string(let s): s
        case nil, .null: ""
        case let other?: String(decoding: other.serialized(), as: UTF8.self)
        }
    }

    /// The status of a Twilio status callback: its form fields, and the query of
    /// the `StatusCallback` URL the sender gave (which names the message).
    /// - Returns: nil when `MessageSid` or `MessageStatus` is missing.
    public static func twilio(form: [String: String], query: String?) -> ProviderStatus? {
        guard let sid = form["MessageSid"], let status = form["MessageStatus"] else { return nil }
        return ProviderStatus(
            providerId: sid, reference: query.flatMap(MessageReference.init(text:)), status: status, error: form["ErrorCode"].map { "Twilio \($0)" } ?? "")
    }
}
