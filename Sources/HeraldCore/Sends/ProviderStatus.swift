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

    /// A template's status or quality as Meta reports it
    /// (`message_template_status_update`, `message_template_quality_update`):
    /// the template, its language, and what happened.
    public struct TemplateUpdate: Sendable, Equatable {
        /// The template's name.
        public var name: String
        /// Its language code.
        public var language: String
        /// The new status (`PAUSED`, `DISABLED`, `APPROVED`, …); nil for a quality update.
        public var status: String?
        /// The new quality score (`GREEN`, `YELLOW`, `RED`); nil for a status update.
        public var quality: String?
        /// Meta's reason, or "" when it gave none.
        public var reason: String

        /// An update of `name` in `language`: a new `status` or a new `quality`.
        public init(name: String, language: String, status: String?, quality: String?, reason: String) {
            self.name = name
            self.language = language
            self.status = status
            self.quality = quality
            self.reason = reason
        }

        /// Whether broadcasts using the template must stop: it can no longer be
        /// sent (`PAUSED`, `DISABLED`, `REJECTED`, `PENDING_DELETION`, `FLAGGED`), or its
        /// quality fell to `RED` (Meta pauses such templates next).
        public var stopsSending: Bool {
            if let status { return ["PAUSED", "DISABLED", "REJECTED", "PENDING_DELETION", "FLAGGED"].contains(status) }
            return quality == "RED"
        }

        /// `template 'x' (en) is PAUSED: reason`.
        public var description: String {
            let what = status.map { "is \($0)" } ?? "quality is now \(quality ?? "?")"
            return "WhatsApp template '\(name)' (\(language)) \(what)" + (reason.isEmpty ? "" : ": \(reason)")
        }
    }

    /// The template updates of a WhatsApp Business Account webhook (`entry[].changes[]`
    /// whose `field` is `message_template_status_update` or `message_template_quality_update`).
    public static func whatsAppTemplateUpdates(_ body: JSONValue) -> [TemplateUpdate] {
        var out: [TemplateUpdate] = []
        for entry in body["entry"]?.arrayValue ?? [] {
            for change in entry["changes"]?.arrayValue ?? [] {
                let v = change["value"]
                guard let name = v?["message_template_name"]?.stringValue, let language = v?["message_template_language"]?.stringValue else { continue }
                let reason = v?["reason"]?.stringValue.map { $0 == "NONE" ? "" : $0 } ?? ""
                switch change["field"]?.stringValue {
                case "message_template_status_update":
                    guard let event = v?["event"]?.stringValue else { continue }
                    out.append(TemplateUpdate(name: name, language: language, status: event, quality: nil, reason: reason))
                case "message_template_quality_update":
                    guard let score = v?["new_quality_score"]?.stringValue else { continue }
                    out.append(TemplateUpdate(name: name, language: language, status: nil, quality: score, reason: reason))
                default: continue
                }
            }
        }
        return out
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
