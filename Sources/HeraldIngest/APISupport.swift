import HeraldCore
import Hummingbird
import NIOCore

/// What the ingestor's HTTP handlers share: JSON answers and bodies (keys: `APIKeyAuthorization`).
enum APISupport {
    /// A 415 answer unless the body is declared JSON.
    static func refuseNonJSON(_ request: Request) -> Response? {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        if contentType.hasPrefix("application/json") { return nil }
        return problem(.unsupportedMediaType, "Content-Type must be application/json, got '\(contentType.isEmpty ? "none" : contentType)'")
    }

    /// The JSON body of a request, or the 413/400 answer that refuses it.
    static func jsonBody(_ request: Request, maxBytes: Int) async -> Result<JSONValue, ResponseError> {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBytes)
        } catch {
            return .failure(ResponseError(problem(.contentTooLarge, "request body is larger than \(maxBytes) bytes")))
        }
        do {
            return .success(try JSONValue.parse(body.readableBytesView))
        } catch {
            return .failure(ResponseError(problem(.badRequest, "body is not valid JSON: \(error)")))
        }
    }

    /// An error answer as RFC 9457 problem details, the one shape every 4xx and 5xx
    /// of the API has (`docs/api.md`): `type` is `about:blank`, so `title` is the
    /// status's own phrase; `detail` says what is wrong, `field` names the input
    /// at fault when there is one, and `extra` adds a route's own members (a
    /// validation's line, a batch's per-event results).
    static func problem(
        _ status: HTTPResponse.Status, _ detail: String, field: String? = nil, extra: [String: JSONValue] = [:], headers: HTTPFields = [:]
    ) -> Response {
        var body = extra
        body["type"] = "about:blank"
        body["title"] = .string(status.reasonPhrase)
        body["status"] = .int(Int64(status.code))
        body["detail"] = .string(detail)
        if let field { body["field"] = .string(field) }
        var fields = headers
        fields[.contentType] = problemContentType
        var bytes = JSONValue.object(body).serialized()
        bytes.append(0x0A)
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The media type of `problem` answers (RFC 9457 §3).
    static let problemContentType = "application/problem+json"

    static func json(_ status: HTTPResponse.Status, _ body: JSONValue, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        var bytes = body.serialized()
        bytes.append(0x0A)
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// A finished answer (an error's problem document) thrown or carried through a
/// `Result` to end a request early.
struct ResponseError: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}
