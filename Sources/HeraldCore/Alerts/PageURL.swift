import Foundation

/// A web page address reduced to what identifies the page for alerts: the host
/// (lowercased, without a default port) and the path segments (lowercased).
/// The scheme, query string, fragment, empty segments and a trailing slash are
/// dropped, so `HTTPS://Shop.example/Pricing/?utm_source=x#top` is the same page
/// as `shop.example/pricing`.
public struct PageURL: Sendable, Hashable, CustomStringConvertible {
    /// The host, lower-cased, without a default port (`:80`, `:443`).
    public var host: String
    /// The path's non-empty segments, lower-cased, in order.
    public var segments: [String]

    /// nil when there is no host.
    ///
    /// Works on the UTF-8 bytes: every page view is parsed, and going through
    /// Foundation's string trimming cost a fifth of the alerter's CPU (perf).
    public init?(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while let f = bytes.first, f == 0x20 || f == 0x09 { bytes = bytes.dropFirst() }
        while let l = bytes.last, l == 0x20 || l == 0x09 { bytes = bytes.dropLast() }
        // Past "scheme://", if any (a "://" after the first "/" is part of the path).
        if let colon = bytes.firstIndex(of: 0x3A), colon + 2 < bytes.endIndex, bytes[colon + 1] == 0x2F, bytes[colon + 2] == 0x2F,
            !bytes[..<colon].contains(0x2F)
        {
            bytes = bytes[(colon + 3)...]
        }
        if let end = bytes.firstIndex(where: { $0 == 0x3F || $0 == 0x23 }) { bytes = bytes[..<end] }  // ? or #
        // A browser ends the host at `\` as at `/` (WHATWG URL, special schemes), so
        // `https://evil.example\@shop.example/` is a page of evil.example.
        let slash = bytes.firstIndex(where: { $0 == 0x2F || $0 == 0x5C }) ?? bytes.endIndex
        let hostBytes = bytes[..<slash]
        // User-info (`user:pass@host`) is refused outright rather than stripped:
        // no page a shop's own script reports has it, and it is how a link is
        // dressed up as the shop's (`https://shop.example@evil.example/`).
        guard !hostBytes.contains(0x40) else { return nil }
        var host = String(decoding: hostBytes, as: UTF8.self).lowercased()
        guard Self.isHost(host.utf8) else { return nil }
        if host.hasSuffix(":80") || host.hasSuffix(":443") { host = String(host[..<host.lastIndex(of: ":")!]) }
        self.host = host
        segments = bytes[slash...].split(whereSeparator: { $0 == 0x2F || $0 == 0x5C }).map { String(decoding: $0, as: UTF8.self).lowercased() }
    }

    /// `host/segment/…`, the form rules and alerts show.
    public var description: String { ([host] + segments).joined(separator: "/") }

    /// A host as a browser reports it (`location.host`, IDNs in punycode): a
    /// name of letters, digits, `-`, `_` and `.`, or an IPv6 address in
    /// brackets, then at most one `:port` of digits. Anything else (spaces,
    /// quotes, a second port) is no page of any shop.
    static func isHost(_ bytes: String.UTF8View) -> Bool {
        var rest = bytes[...]
        if rest.first == 0x5B {  // [
            guard let close = rest.firstIndex(of: 0x5D) else { return false }
            let inside = rest[rest.index(after: rest.startIndex)..<close]
            guard !inside.isEmpty, inside.allSatisfy({ isHexDigit($0) || $0 == 0x3A || $0 == 0x2E }) else { return false }
            rest = rest[rest.index(after: close)...]
        } else {
            let nameEnd = rest.firstIndex(of: 0x3A) ?? rest.endIndex
            let name = rest[..<nameEnd]
            guard !name.isEmpty, name.allSatisfy({ isNameByte($0) }) else { return false }
            rest = rest[nameEnd...]
        }
        guard let colon = rest.first else { return true }
        let port = rest.dropFirst()
        return colon == 0x3A && !port.isEmpty && port.count <= 5 && port.allSatisfy { (0x30...0x39).contains($0) }
    }

    private static func isHexDigit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) || (0x61...0x66).contains(b) }
    private static func isNameByte(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) || (0x61...0x7A).contains(b) || b == 0x2D || b == 0x2E || b == 0x5F }
}

/// A watched page: one page exactly, or (ending in `/**`) that page and every
/// page under it — `shop.example/products/**` covers `/products`,
/// `/products/shoes` and `/products/shoes/red`, not `/products-old`.
public struct PagePattern: Sendable, Hashable, CustomStringConvertible {
    /// The page the pattern names.
    public var page: PageURL
    /// True for a `/**` pattern: the page and every page under it.
    public var coversSubpages: Bool

    /// Parses a pattern: a page address, optionally ending in `/**`; nil when the page has no host.
    public init?(_ text: String) {
        var t = text.trimmingCharacters(in: .whitespaces)
        coversSubpages = t.hasSuffix("/**") || t.hasSuffix("**")
        if coversSubpages { t = String(t.dropLast(2)) }
        guard let page = PageURL(t), !t.contains("*") else { return nil }
        self.page = page
    }

    /// Whether a view of `url` is a view of this pattern's page (or, for `/**`, of one below it).
    public func matches(_ url: PageURL) -> Bool {
        guard url.host == page.host else { return false }
        if coversSubpages { return url.segments.starts(with: page.segments) }
        return url.segments == page.segments
    }

    /// The pattern as a rule writes it.
    public var description: String { page.description + (coversSubpages ? "/**" : "") }
}
