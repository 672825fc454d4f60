import HeraldCore
import Hummingbird
import NIOCore

/// What the ingestor's HTTP handlers share: JSON answers and bodies (keys: `APIKeyAuthorization`).
enum APISupport {
    /// A 415 answer unless the body is declared JSON.
    static func refuseNonJSON(_ request: Request) -> Response? {
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        if contentType.hasPrefix("application/json") { return nil }
        return json(.unsupportedMediaType, ["error": "Content-Type must be application/json, got '\(contentType.isEmpty ? "none" : contentType)'"])
    }

    /// The JSON body of a request, or the 413/400 answer that refuses it.
    static func jsonBody(_ request: Request, maxBytes: Int) async -> Result<JSONValue, ResponseError> {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBytes)
        } catch {
            return .failure(ResponseError(json(.contentTooLarge, ["error": "request body is larger than \(maxBytes) bytes"])))
        }
        do {
            return .success(try JSONValue.parse(body.readableBytesView))
        } catch {
            return .failure(ResponseError(json(.badRequest, ["error": "body is not valid JSON: \(error)"])))
        }
    }

    static func json(_ status: HTTPResponse.Status, _ body: JSONValue, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        var bytes = body.serialized()
        bytes.append(0x0A)
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// A finished error answer carried through a `Result`.
struct ResponseError: Error {
    let response: Response
    init(_ response: Response) { self.response = response }
}
