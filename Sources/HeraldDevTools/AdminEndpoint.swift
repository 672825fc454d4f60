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
        let fromEnvironment = try environmentKey(ProcessInfo.processInfo.environment)
        guard
            let key = key ?? fromEnvironment
                ?? (try? String(contentsOfFile: DevPaths.adminKey, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        else { throw CLIError("no admin key: pass --admin-key, set HERALD_API_ADMIN_KEYS (or …_FILE), or start `heraldctl dev`") }
        return AdminEndpoint(url: base, key: key)
    }

    /// The admin key from the setting the ingestor reads: `HERALD_API_ADMIN_KEYS`
    /// (its first key), or the file `HERALD_API_ADMIN_KEYS_FILE` names; the older
    /// `HERALD_ADMIN_KEY` still works. Nil when none is set.
    /// - Throws: `CLIError` when the named file cannot be read.
    public static func environmentKey(_ environment: [String: String]) throws -> String? {
        func first(_ text: String) -> String? {
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.first { !$0.isEmpty }
        }
        if let keys = environment["HERALD_API_ADMIN_KEYS"], let key = first(keys) { return key }
        if let path = environment["HERALD_API_ADMIN_KEYS_FILE"] {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8), let key = first(text) else {
                throw CLIError("HERALD_API_ADMIN_KEYS_FILE names '\(path)', which holds no key or cannot be read")
            }
            return key
        }
        return environment["HERALD_ADMIN_KEY"].flatMap(first)
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
