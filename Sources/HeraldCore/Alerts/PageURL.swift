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
    public init?(_ text: String) {
        var s = Substring(text.trimmingCharacters(in: .whitespaces))
        if let scheme = s.range(of: "://") { s = s[scheme.upperBound...] }
        if let end = s.firstIndex(where: { $0 == "?" || $0 == "#" }) { s = s[..<end] }
        let slash = s.firstIndex(of: "/") ?? s.endIndex
        var host = s[..<slash].lowercased()
        if let at = host.lastIndex(of: "@") { host = String(host[host.index(after: at)...]) }  // user:pass@
        if host.hasSuffix(":80") || host.hasSuffix(":443") { host = String(host[..<host.lastIndex(of: ":")!]) }
        guard !host.isEmpty, !host.contains(" ") else { return nil }
        self.host = host
        segments = s[slash...].split(separator: "/").map { $0.lowercased() }
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
