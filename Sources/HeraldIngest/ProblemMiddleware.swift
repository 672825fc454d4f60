import Hummingbird
import Logging
import Synchronization

/// Turns what a route throws instead of answering (Hummingbird's own `HTTPError`,
/// such as the 404 of a path no route has, or an error no handler caught) into
/// the API's one error shape, problem details (`APISupport.problem`). Without it
/// those answers would have Hummingbird's body, or none, and an unexpected error
/// would say nothing about itself; this one says it was unexpected and logs it.
/// A path that exists under other methods gets 405 with `Allow` (RFC 9110 §15.5.6),
/// not Hummingbird's 404.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger
    let routes: RouteTable

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            if error.status == .notFound, error.body == nil {
                let allowed = routes.methods(for: request.uri.path)
                if !allowed.isEmpty {
                    return APISupport.problem(
                        .methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path); it takes \(allowed.joined(separator: ", "))",
                        headers: [.allow: allowed.joined(separator: ", ")])
                }
                return APISupport.problem(.notFound, "no route \(request.method) \(request.uri.path)")
            }
            return APISupport.problem(error.status, error.body ?? error.status.reasonPhrase, headers: error.headers)
        } catch let error as ResponseError {
            return error.response
        } catch {
            logger.error("API request failed unexpectedly", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            return APISupport.problem(.internalServerError, "the request failed unexpectedly; it is logged as such")
        }
    }
}

/// The router's paths and their methods, loaded once the routes are added (the
/// middleware that reads it is added before them), for `ProblemMiddleware`'s 405s.
final class RouteTable: Sendable {
    private let entries = Mutex<[(segments: [Substring], methods: [String])]>([])

    /// Loads `routes` (`Router.routes`), replacing what was there.
    func load(_ routes: [(path: String, method: String)]) {
        var byPath: [String: Set<String>] = [:]
        for route in routes { byPath[route.path, default: []].insert(route.method) }
        let loaded = byPath.map { (segments: $0.key.split(separator: "/"), methods: $0.value.sorted()) }
        entries.withLock { $0 = loaded }
    }

    /// The methods the route that `path` reaches takes, sorted; empty when no route's path matches.
    /// As in Hummingbird's trie, a literal segment wins over a capture (`/v1/alerts/validate`
    /// is not `/v1/alerts/{id}`), the earlier segment first.
    func methods(for path: String) -> [String] {
        let parts = path.split(separator: "/")
        var best: [Bool] = [], methods: [String] = []
        entries.withLock { entries in
            for entry in entries where entry.segments.count == parts.count {
                // A `{name}` segment is a capture: it matches any one segment.
                guard zip(entry.segments, parts).allSatisfy({ $0.first == "{" || $0 == $1 }) else { continue }
                let literal = entry.segments.map { $0.first != "{" }
                if methods.isEmpty || literal.lexicographicallyPrecedes(best, by: { $0 && !$1 }) {
                    best = literal
                    methods = entry.methods
                }
            }
        }
        return methods
    }
}
