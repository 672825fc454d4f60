import Foundation

/// A web page address reduced to what identifies the page for alerts: the host
/// (lowercased, without a default port) and the path segments (lowercased).
/// The scheme, query string, fragment, empty segments and a trailing slash are
/// dropped, so `HTTPS://Shop.example/Pricing/?utm_source=x#top` is the same page
/// as `shop.example/pricing`.
public struct PageURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
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
        if host.hasSuffix(":80") || host.hasSuffix(":443") { host = String(host[..<host.lastIndex(of: ":")!]) }
        // On bytes: `String.contains(String)` goes through Foundation's search.
        guard !host.isEmpty, !hostBytes.contains(0x20) else { return nil }
        self.host = host
        segments = bytes[slash...].split(whereSeparator: { $0 == 0x2F || $0 == 0x5C }).map { String(decoding: $0, as: UTF8.self).lowercased() }
    }

    public var description: String { ([host] + segments).joined(separator: "/") }
}

/// A watched page: one page exactly, or (ending in `/**`) that page and every
/// page under it — `shop.example/products/**` covers `/products`,
/// `/products/shoes` and `/products/shoes/red`, not `/products-old`.
public struct PagePattern: Sendable, Hashable, CustomStringConvertible {
    public var page: PageURL
    public var coversSubpages: Bool

    public init?(_ text: String) {
        var t = text.trimmingCharacters(in: .whitespaces)
        coversSubpages = t.hasSuffix("/**") || t.hasSuffix("**")
        if coversSubpages { t = String(t.dropLast(2)) }
        guard let page = PageURL(t), !t.contains("*") else { return nil }
        self.page = page
    }

    public func matches(_ url: PageURL) -> Bool {
        guard url.host == page.host else { return false }
        if coversSubpages { return url.segments.starts(with: page.segments) }
        return url.segments == page.segments
    }

    public var description: String { page.description + (coversSubpages ? "/**" : "") }
}
