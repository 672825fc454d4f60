import Foundation
import HeraldCore
import Hummingbird

/// The ingestor's API keys, by what each may do (docs/events.md, "API keys"):
///
/// - `ingest` (`api.keys`): post events, nothing else. This key may sit in a
///   shop's tracking script, where anyone can read it, so it reads nothing back.
/// - `read` (`api.read_keys`): read contacts, their journeys and messages.
/// - `admin` (`api.admin_keys`): everything, including changing and erasing
///   contacts, campaigns and alert rules.
public struct APIKeys: Sendable {
    /// What a route requires.
    public enum Scope: String, Sendable {
        case ingest, read, admin
    }

    let ingest: [String]
    let read: [String]
    let admin: [String]

    /// Keys by scope: `api.keys`, `api.read_keys`, `api.admin_keys`.
    public init(ingest: some Sequence<String>, read: some Sequence<String>, admin: some Sequence<String>) {
        self.ingest = Array(ingest).filter { !$0.isEmpty }
        self.read = Array(read).filter { !$0.isEmpty }
        self.admin = Array(admin).filter { !$0.isEmpty }
    }

    /// The scopes `key` holds. Every configured key is compared, each in constant
    /// time, so how long this takes says nothing of which key (if any) matched.
    func scopes(of key: String) -> Set<Scope> {
        var held: Set<Scope> = []
        for (scope, keys) in [(Scope.ingest, ingest), (.read, read), (.admin, admin)] {
            var match = false
            for k in keys where Hashing.secretsEqual(key, k) { match = true }
            if match { held.insert(scope) }
        }
        // An admin key may do what the others may.
        if held.contains(.admin) { held.formUnion([.ingest, .read]) }
        return held
    }
}

/// Middleware of a route group: the request's `Authorization: Bearer <key>` must
/// hold `scope`; 401 without a known key, 403 with a key of another scope.
struct APIKeyAuthorization<Context: RequestContext>: RouterMiddleware {
    let keys: APIKeys
    let scope: APIKeys.Scope

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var presented = ""
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            presented = header.dropFirst("Bearer ".count).trimmingCharacters(in: .whitespaces)
        }
        let held = presented.isEmpty ? [] : keys.scopes(of: presented)
        if held.contains(scope) { return try await next(request, context) }
        if held.isEmpty {
            return APISupport.problem(.unauthorized, "missing or invalid API key (send Authorization: Bearer <key>)", headers: [.wwwAuthenticate: "Bearer"])
        }
        let setting = scope == .ingest ? "api.keys" : "api.\(scope.rawValue)_keys"
        return APISupport.problem(.forbidden, "this API key may not do this: it needs the \(scope.rawValue) scope (\(setting))")
    }
}

extension RouterMethods {
    /// A group of routes that require `scope`.
    func requiring(_ scope: APIKeys.Scope, _ keys: APIKeys) -> RouterGroup<Context> {
        group().add(middleware: APIKeyAuthorization<Context>(keys: keys, scope: scope))
    }
}
