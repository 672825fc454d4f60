/// One-click unsubscribe links (RFC 8058). The link names the contact and the
/// message and carries a token — HMAC-SHA256 under `unsubscribe.secret` — so no
/// one can unsubscribe a contact by guessing its id.
public enum UnsubscribeLink {
    public static func token(secret: String, contactId: String, messageId: String) -> String {
        String(SHA256.hex(SHA256.hmac(key: Array(secret.utf8), message: Array("\(contactId)\n\(messageId)".utf8))).prefix(32))
    }

    public static func url(base: String, secret: String, contactId: String, messageId: String) -> String {
        "\(base)/v1/unsubscribe?contact=\(URLEncoding.percentEncoded(contactId))&message=\(URLEncoding.percentEncoded(messageId))&token=\(token(secret: secret, contactId: contactId, messageId: messageId))"
    }

    /// Constant-time comparison of a presented token.
    public static func verify(_ presented: String, secret: String, contactId: String, messageId: String) -> Bool {
        let expected = Array(token(secret: secret, contactId: contactId, messageId: messageId).utf8)
        let given = Array(presented.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
