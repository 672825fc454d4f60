/// Herald's name for a message inside a provider's status callback: the contact
/// (whose shard holds the record) and the send id, as a form-encoded string
/// (`c=<contact>&m=<send id>`).
///
/// The sender hands it to the provider with the message — WhatsApp's
/// `biz_opaque_callback_data`, which Meta returns in every status of that
/// message; the query of Twilio's `StatusCallback` URL, which Twilio calls as
/// given and signs — so a status finds its message without a mapping from the
/// provider's id. That mapping was a Redis key per message kept 30 days
/// (docs/sender.md, "Delivery statuses").
public struct MessageReference: Sendable, Hashable {
    /// The contact the message went to.
    public var contactId: String
    /// The message's send id (`SendRequest.id`).
    public var sendId: String

    /// The longest `biz_opaque_callback_data` Meta takes. A longer reference is
    /// not sent; the message is then found through its provider id instead.
    public static let whatsAppLimit = 512

    /// A reference to one message.
    public init(contactId: String, sendId: String) {
        self.contactId = contactId
        self.sendId = sendId
    }

    /// The reference of `request`'s message.
    public init(_ request: SendRequest) {
        self.init(contactId: request.contactId, sendId: request.id)
    }

    /// The form the provider carries back: `c=<contact>&m=<send id>`, form-encoded.
    public var text: String { URLEncoding.form([("c", contactId), ("m", sendId)]) }

    /// Reads `text` back; nil unless both parts are there and not empty.
    public init?(text: String) {
        let fields = URLEncoding.parseForm(text)
        guard let c = fields["c"], let m = fields["m"], !c.isEmpty, !m.isEmpty else { return nil }
        self.init(contactId: c, sendId: m)
    }
}
