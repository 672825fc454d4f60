/// One-click unsubscribe links (RFC 8058). The link names the contact and the
/// message and carries a `LinkToken` for unsubscribing, so no one can
/// unsubscribe a contact by guessing its id, nor with another link's token.
public enum UnsubscribeLink {
    /// The token an unsubscribe link must carry for this contact and message.
    public static func token(secret: String, contactId: String, messageId: String) -> String {
        LinkToken.sign(.unsubscribe, secret: secret, fields: [contactId, messageId])
    }

    /// The one-click unsubscribe URL under `base` (the ingestor's public URL).
    public static func url(base: String, secret: String, contactId: String, messageId: String) -> String {
        "\(base)/v1/unsubscribe?contact=\(URLEncoding.percentEncoded(contactId))&message=\(URLEncoding.percentEncoded(messageId))&token=\(token(secret: secret, contactId: contactId, messageId: messageId))"
    }

    /// Constant-time comparison of a presented token.
    public static func verify(_ presented: String, secret: String, contactId: String, messageId: String) -> Bool {
        LinkToken.verify(presented, .unsubscribe, secret: secret, fields: [contactId, messageId])
    }
}
