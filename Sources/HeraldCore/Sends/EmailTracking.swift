import Foundation

/// Open and click tracking for HTML email: links go through the ingestor's
/// redirect (`/v1/t/c`), and a 1×1 image (`/v1/t/o`) reports an open. Each link
/// is signed (HMAC under the tracking secret over contact, message and target),
/// so the redirect is never an open redirect and no one can forge opens.
public enum EmailTracking {
    /// The open pixel's URL under `base` (the ingestor's public URL), signed for this contact and message.
    public static func openURL(base: String, secret: String, contactId: String, messageId: String) -> String {
        "\(base)/v1/t/o?contact=\(URLEncoding.percentEncoded(contactId))&message=\(URLEncoding.percentEncoded(messageId))"
            + "&token=\(LinkToken.sign(.open, secret: secret, fields: [contactId, messageId]))"
    }

    /// The tracked link that redirects to `target`, signed for this contact, message and target.
    public static func clickURL(base: String, secret: String, contactId: String, messageId: String, target: String) -> String {
        "\(base)/v1/t/c?contact=\(URLEncoding.percentEncoded(contactId))&message=\(URLEncoding.percentEncoded(messageId))"
            + "&url=\(URLEncoding.percentEncoded(target))&token=\(clickToken(secret: secret, contactId: contactId, messageId: messageId, target: target))"
    }

    /// The token of a tracked link: binds the target, so a link cannot be pointed elsewhere.
    public static func clickToken(secret: String, contactId: String, messageId: String, target: String) -> String {
        LinkToken.sign(.click, secret: secret, fields: [contactId, messageId, target])
    }

    /// Whether `token` is this contact's and message's open token.
    public static func verifyOpen(_ token: String, secret: String, contactId: String, messageId: String) -> Bool {
        LinkToken.verify(token, .open, secret: secret, fields: [contactId, messageId])
    }

    /// Whether `token` is this contact's, message's and target's click token.
    public static func verifyClick(_ token: String, secret: String, contactId: String, messageId: String, target: String) -> Bool {
        LinkToken.verify(token, .click, secret: secret, fields: [contactId, messageId, target])
    }

    /// Rewrites every `href="http…"` (double or single quotes) except those in
    /// `keep` to the click redirect, and adds the open pixel before `</body>` (or
    /// at the end).
    public static func instrument(html: String, base: String, secret: String, contactId: String, messageId: String, keep: Set<String> = []) -> String {
        var out = ""
        var rest = Substring(html)
        while let start = rest.range(of: "href=") {
            out += rest[..<start.upperBound]
            rest = rest[start.upperBound...]
            guard let quote = rest.first, quote == "\"" || quote == "'", let end = rest.dropFirst().firstIndex(of: quote) else { continue }
            let target = String(rest[rest.index(after: rest.startIndex)..<end])
            let decoded = target.replacingOccurrences(of: "&amp;", with: "&")
            if (decoded.hasPrefix("http://") || decoded.hasPrefix("https://")) && !keep.contains(decoded) {
                let url = clickURL(base: base, secret: secret, contactId: contactId, messageId: messageId, target: decoded)
                out += "\(quote)\(url.replacingOccurrences(of: "&", with: "&amp;"))\(quote)"
            } else {
                out += "\(quote)\(target)\(quote)"
            }
            rest = rest[rest.index(after: end)...]
        }
        out += rest
        let pixel =
            #"<img src="\#(openURL(base: base, secret: secret, contactId: contactId, messageId: messageId).replacingOccurrences(of: "&", with: "&amp;"))" width="1" height="1" alt="" style="display:none">"#
        if let body = out.range(of: "</body>", options: .backwards) {
            out.insert(contentsOf: pixel, at: body.lowerBound)
        } else {
            out += pixel
        }
        return out
    }
}
