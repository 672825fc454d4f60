/// The token on every link Herald puts in an email: one-click unsubscribe
/// (RFC 8058), the open pixel and click redirects. HMAC-SHA256 under the
/// unsubscribe secret, cut to 128 bits (32 hex digits).
///
/// Each token is bound to its purpose and to length-prefixed fields, so a token
/// made for one purpose never verifies for another: an open pixel's token, which
/// anyone who can read the email's HTML sees, must not unsubscribe the contact.
/// (Herald's first tokens joined the fields with newlines, and an open token did
/// verify as an unsubscribe token for the message id `open\n<id>`.)
public enum LinkToken {
    /// What a token allows.
    public enum Purpose: String, Sendable, CaseIterable {
        case unsubscribe, open, click
    }

    /// The token for `purpose` over `fields` (contact, message, and for a click the target).
    public static func sign(_ purpose: Purpose, secret: String, fields: [String]) -> String {
        var message = Array("herald-link-v2\0\(purpose.rawValue)\0".utf8)
        for field in fields {
            let bytes = Array(field.utf8)
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: bytes.count).bigEndian) { message.append(contentsOf: $0) }
            message.append(contentsOf: bytes)
        }
        return String(Hashing.hex(Hashing.hmacSHA256(key: Array(secret.utf8), message: message)).prefix(32))
    }

    /// Whether `presented` is the token for `purpose` over `fields`, in constant time.
    ///
    /// Links sent before purpose binding still verify, in the old form, while
    /// their contact and message ids hold no newline: then the old forms of the
    /// three purposes cannot be mistaken for each other (an unsubscribe text has
    /// one newline, an open text starts `<contact>\nopen\n`, a click text
    /// `<contact>\nclick\n`). docs/reliability.md says when this can go.
    public static func verify(_ presented: String, _ purpose: Purpose, secret: String, fields: [String]) -> Bool {
        if Hashing.secretsEqual(presented, sign(purpose, secret: secret, fields: fields)) { return true }
        guard fields.count >= 2, !fields[0].contains("\n"), !fields[1].contains("\n") else { return false }
        let legacy: String
        switch purpose {
        case .unsubscribe: legacy = "\(fields[0])\n\(fields[1])"
        case .open: legacy = "\(fields[0])\nopen\n\(fields[1])"
        case .click: legacy = "\(fields[0])\nclick\n\(fields[1])\n\(fields.count > 2 ? fields[2] : "")"
        }
        let expected = String(Hashing.hex(Hashing.hmacSHA256(key: Array(secret.utf8), message: Array(legacy.utf8))).prefix(32))
        return Hashing.secretsEqual(presented, expected)
    }
}
