import Foundation
import HeraldChannels

/// The ingestor's admin API: where it is and the key that opens it.
public struct AdminEndpoint: Sendable {
    /// The API's base URL, e.g. `http://127.0.0.1:8080`.
    public var url: String
    /// An admin-scope API key.
    public var key: String

    /// The API at `url`, with admin key `key`.
    public init(url: String, key: String) {
        self.url = url
        self.key = key
    }

    /// The running dev stack's API, with `url` and `key` taking precedence, then
    /// `HERALD_ADMIN_KEY` for the key.
    /// - Throws: `CLIError` naming what is missing.
    public static func resolve(url: String?, key: String?) throws -> AdminEndpoint {
        guard let base = url ?? (try? String(contentsOfFile: DevPaths.apiURL, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) else {
            throw CLIError("no API address: pass --api or start `heraldctl dev`")
        }
        guard
            let key = key ?? ProcessInfo.processInfo.environment["HERALD_ADMIN_KEY"]
                ?? (try? String(contentsOfFile: DevPaths.adminKey, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        else { throw CLIError("no admin key: pass --admin-key, set HERALD_ADMIN_KEY, or start `heraldctl dev`") }
        return AdminEndpoint(url: base, key: key)
    }

    /// Sends one admin request (a body of `contentType`, if any); prints the answer unless `quiet`.
    /// - Returns: the HTTP status.
    @discardableResult
    public func call(_ method: String, _ path: String, body: String? = nil, contentType: String = "application/yaml", quiet: Bool = false) async throws -> Int {
        let client = HTTPClient(concurrency: 1)
        let r = try await client.send(
            method: method, url: "\(url)\(path)", headers: [("Authorization", "Bearer \(key)"), ("Content-Type", contentType)],
            body: body.map { Array($0.utf8) })
        if !quiet || !(200..<300).contains(r.status) { print(r.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return r.status
    }
}
