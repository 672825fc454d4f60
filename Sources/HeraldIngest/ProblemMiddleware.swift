import Hummingbird
import Logging

/// Turns what a route throws instead of answering (Hummingbird's own `HTTPError`,
/// such as the 404 of a path no route has, or an error no handler caught) into
/// the API's one error shape, problem details (`APISupport.problem`). Without it
/// those answers would have Hummingbird's body, or none, and an unexpected error
/// would say nothing about itself; this one says it was unexpected and logs it.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let detail =
                error.body ?? (error.status == .notFound ? "no route \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            return APISupport.problem(error.status, detail, headers: error.headers)
        } catch let error as ResponseError {
            return error.response
        } catch {
            logger.error("API request failed unexpectedly", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            return APISupport.problem(.internalServerError, "the request failed unexpectedly; it is logged as such")
        }
    }
}
