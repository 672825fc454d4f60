import Foundation

/// An email as it goes over SMTP (RFC 5322 / MIME): text and HTML as
/// `multipart/alternative`, one-click unsubscribe headers (RFC 8058), a
/// `Message-ID` and `X-Herald-Send-Id` carrying the send's idempotency key.
///
/// Values that would start a new header line (CR or LF) are refused, not
/// cleaned: a template or profile that produces one is a bug to see.
public struct EmailMessage: Sendable {
    /// The envelope sender and `From`.
    public var from: EmailAddress
    /// The recipient (envelope and `To`).
    public var to: EmailAddress
    /// The subject; RFC 2047-encoded when it is not ASCII.
    public var subject: String
    /// The plain-text part.
    public var text: String
    /// The HTML part; with it the body is `multipart/alternative`.
    public var html: String?
    /// The send's idempotency key.
    public var sendId: String
    /// Where one-click unsubscribe POSTs go; none for transactional mail.
    public var unsubscribeURL: String?
    /// The `Date` header.
    public var date: Date
    /// Files attached after the body (`multipart/mixed`).
    public var attachments: [EmailAttachment] = []

    /// A message with no attachments; `date` defaults to now.
    public init(
        from: EmailAddress, to: EmailAddress, subject: String, text: String, html: String? = nil, sendId: String, unsubscribeURL: String? = nil,
        date: Date = WallClock.system.date()
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.text = text
        self.html = html
        self.sendId = sendId
        self.unsubscribeURL = unsubscribeURL
        self.date = date
    }

    /// `<hash of the send id>@<sender's domain>`: the same send always gets the same id.
    public var messageId: String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in sendId.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return "<\(String(h, radix: 16)).\(sendId.utf8.count)@\(from.domain)>"
    }

    /// The message bytes, CRLF line ends.
    /// - Throws: `EmailMessageError` for a header value with a line break.
    public func rendered() throws(EmailMessageError) -> [UInt8] {
        var headers: [(String, String)] = [
            ("From", from.header), ("To", to.header), ("Subject", Self.encodedWord(subject)),
            ("Date", Self.rfc5322Date(date)), ("Message-ID", messageId), ("MIME-Version", "1.0"), ("X-Herald-Send-Id", sendId),
        ]
        if let unsubscribeURL {
            headers.append(("List-Unsubscribe", "<\(unsubscribeURL)>"))
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
        }
        for (name, value) in headers where hasLineBreak(value) {
            throw EmailMessageError("header \(name) contains a line break")
        }
        for a in attachments where hasLineBreak(a.filename) || a.filename.contains("\"") || hasLineBreak(a.contentType) {
            throw EmailMessageError("attachment name or type '\(a.filename)' contains a line break or a quote")
        }
        var out = ""
        for (name, value) in headers { out += "\(name): \(value)\r\n" }
        let boundary = "herald-\(String(messageId.utf8.reduce(UInt32(5381)) { ($0 &* 33) ^ UInt32($1) }, radix: 16))"
        var body = ""
        if let html {
            body += "Content-Type: multipart/alternative; boundary=\"\(boundary)-a\"\r\n\r\n"
            body += "--\(boundary)-a\r\n" + Self.part("text/plain", text)
            body += "--\(boundary)-a\r\n" + Self.part("text/html", html)
            body += "--\(boundary)-a--\r\n"
        } else {
            body += Self.part("text/plain", text)
        }
        if attachments.isEmpty {
            out += body
        } else {
            // multipart/mixed: the body first, then each attachment.
            out += "Content-Type: multipart/mixed; boundary=\"\(boundary)-m\"\r\n\r\n"
            out += "--\(boundary)-m\r\n" + body
            for a in attachments {
                let encodedName = a.filename.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) ? a.filename : Self.encodedWord(a.filename)
                out += "--\(boundary)-m\r\nContent-Disposition: attachment; filename=\"\(encodedName)\"\r\n" + Self.part(a.contentType, a.content)
            }
            out += "--\(boundary)-m--\r\n"
        }
        return Array(out.utf8)
    }

    static func part(_ type: String, _ body: String) -> String {
        let encoded = Data(body.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        return "Content-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\(encoded)\r\n"
    }

    /// RFC 2047 encoded word for non-ASCII header text.
    static func encodedWord(_ s: String) -> String {
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return s }
        if hasLineBreak(s) { return s }  // refused by the caller
        return "=?UTF-8?B?\(Data(s.utf8).base64EncodedString())?="
    }

    /// `Mon, 23 Nov 2026 01:08:40 +0000`. Built from the UTC fields by hand: a
    /// DateFormatter per message was a tenth of the sender's CPU (perf).
    public static func rfc5322Date(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let utc = Array(RFC3339.format(milliseconds: ms).utf8)  // 2026-11-23T01:08:40.000Z
        func text(_ r: Range<Int>) -> String { String(decoding: utc[r], as: UTF8.self) }
        let days = Int((ms >= 0 ? ms : ms - 86_399_999) / 86_400_000)
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][((days % 7) + 7) % 7]  // 1970-01-01 was a Thursday
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][(Int(text(5..<7)) ?? 1) - 1]
        return "\(weekday), \(text(8..<10)) \(month) \(text(0..<4)) \(text(11..<19)) +0000"
    }
}

/// A mailbox: an address and an optional display name.
public struct EmailAddress: Sendable, Equatable {
    /// The address itself, `local@domain`.
    public var address: String
    /// The display name, if any.
    public var name: String?

    /// - Throws: `EmailMessageError` when `address` is not `local@domain.tld`
    ///   (no spaces, no line breaks, no angle brackets) or the name has a line break.
    public init(_ address: String, name: String? = nil) throws(EmailMessageError) {
        guard Self.isValid(address) else { throw EmailMessageError("'\(address)' is not a valid email address") }
        if let name, hasLineBreak(name) { throw EmailMessageError("the display name contains a line break") }
        self.address = address
        self.name = name
    }

    /// The part after the last `@` (per-domain rate limits use it).
    public var domain: String { String(address[address.index(after: address.lastIndex(of: "@")!)...]) }

    var header: String {
        guard let name, !name.isEmpty else { return "<\(address)>" }
        let quoted = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\(EmailMessage.encodedWord("\"\(quoted)\"")) <\(address)>"
    }

    /// A practical check, not all of RFC 5321: one `@`, a non-empty local part of
    /// printable characters without spaces or `<>()[],;:"`, and a domain of labels
    /// (letters, digits, hyphens) with at least one dot.
    public static func isValid(_ address: String) -> Bool {
        // ASCII addresses are checked on bytes: imports check an address per row,
        // and the general form was a tenth of the ingestor's CPU time in
        // `heraldctl bench import` (perf, 2026-12-06). Any other address takes
        // the general form, where `@` followed by a combining mark is one
        // Character and so no separator.
        let bytes = address.utf8
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return isValidUnicode(address) }
        guard bytes.count <= 254, let at = bytes.firstIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[..<at], domain = bytes[bytes.index(after: at)...]
        guard !local.isEmpty, local.count <= 64, !domain.contains(UInt8(ascii: "@")) else { return false }
        guard local.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !forbiddenInLocalPart[Int($0)] }) else { return false }
        let labels = domain.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { l in
            !l.isEmpty && l.count <= 63 && l.first != 0x2D && l.last != 0x2D
                && l.allSatisfy { ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A || (0x30...0x39).contains($0) || $0 == 0x2D }
        }
    }

    /// The check on Characters and Unicode properties, for addresses that are not ASCII.
    static func isValidUnicode(_ address: String) -> Bool {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64, address.utf8.count <= 254 else { return false }
        guard parts[0].utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !forbiddenInLocalPart[Int($0)] }) else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { return false }
        return labels.allSatisfy { l in
            !l.isEmpty && l.count <= 63 && !l.hasPrefix("-") && !l.hasSuffix("-")
                && l.unicodeScalars.allSatisfy { ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-") }
        }
    }

    /// ASCII bytes a local part may not hold: space and `<>()[],;:"\`, CR, LF, tab.
    private static let forbiddenInLocalPart: [Bool] = {
        var table = [Bool](repeating: false, count: 128)
        for b in " <>()[],;:\"\\\r\n\t".utf8 { table[Int(b)] = true }
        return table
    }()
}

/// Why a message or an address was refused (a line break in a header, an invalid address).
public struct EmailMessageError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What was refused and why.
    public let description: String
    /// A refusal saying `description`.
    public init(_ description: String) { self.description = description }
}

/// CR or LF anywhere (checked on bytes: "\r\n" is one `Character`, equal to neither).
func hasLineBreak(_ s: String) -> Bool { s.utf8.contains { $0 == 0x0D || $0 == 0x0A } }

/// A file attached to an email (text content: CSV, JSON, HTML or plain text).
public struct EmailAttachment: Sendable, Equatable {
    /// The name the recipient sees.
    public var filename: String
    /// The MIME type, e.g. `text/csv`.
    public var contentType: String
    /// The file's text (sent base64-encoded).
    public var content: String

    /// An attachment of `content` named `filename`.
    public init(filename: String, contentType: String, content: String) {
        self.filename = filename
        self.contentType = contentType
        self.content = content
    }
}
