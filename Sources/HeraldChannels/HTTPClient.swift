import HeraldCore

/// An HTTP response.
public struct HTTPClientResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The response's headers, in order.
    public var headers: [(String, String)]
    /// The body (at most the request's `maxResponseBytes`).
    public var body: [UInt8]

    /// The body as UTF-8 text.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The first header with this name (case-insensitive).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Why a request got no HTTP response.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    /// - `connection`: nothing was sent (no name, no connection, a connect timeout).
    /// - `timeout`, `other`: the request was sent, so the server may have acted on it.
    /// - `refused`: the request's `AddressPolicy` did not allow the address the
    ///   name resolved to; nothing was sent, and sending again will not help.
    public enum Code: Sendable { case timeout, connection, refused, other }
    /// What kind of failure.
    public var code: Code
    /// curl's explanation.
    public var message: String
    /// The message.
    public var description: String { message }

    /// A failure of `code`, explained by `message`.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }
}

/// One request, as `HTTPClient.send(many:)` takes it.
public struct HTTPRequest: Sendable {
    /// `GET`, `POST`, …
    public var method: String
    /// The full URL.
    public var url: String
    /// Request headers, in order.
    public var headers: [(String, String)]
    /// The body, if any.
    public var body: [UInt8]?
    /// A file sent as the body (with `POST`), read as it is sent: an upload of
    /// any size holds one buffer, not the file. Takes the place of `body`.
    public var bodyFile: String?
    /// Bound on the whole transfer.
    public var timeout: Duration
    /// Which addresses the request may connect to; nil: any (a provider's fixed URL).
    public var addressPolicy: AddressPolicy?
    /// A response body longer than this ends the transfer with an error: no
    /// answer, however large, is held in memory. 1 MiB by default.
    public var maxResponseBytes: Int

    /// A request; `maxResponseBytes` is 1 MiB unless given.
    public init(
        method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, timeout: Duration = .seconds(10),
        addressPolicy: AddressPolicy? = nil, maxResponseBytes: Int = 1 << 20
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.addressPolicy = addressPolicy
        self.maxResponseBytes = maxResponseBytes
    }

    /// A POST with a JSON body.
    public static func postJSON(
        _ url: String, _ body: [UInt8], headers: [(String, String)] = [], timeout: Duration = .seconds(10), addressPolicy: AddressPolicy? = nil
    ) -> HTTPRequest {
        HTTPRequest(
            method: "POST", url: url, headers: [("Content-Type", "application/json")] + headers, body: body, timeout: timeout, addressPolicy: addressPolicy)
    }
}

/// What became of one request of `send(many:)`, and how long it took.
public struct HTTPExchange: Sendable {
    /// The response, or why there is none.
    public var result: Result<HTTPClientResponse, HTTPClientError>
    /// From the start of the transfer to its end.
    public var duration: Duration
}

/// An HTTP/1.1 client over libcurl's multi interface: one thread of its own
/// drives every transfer, over at most `concurrency` keep-alive connections
/// (more requests wait for one to free). Nothing blocks Swift's cooperative pool.
public final class HTTPClient: Sendable {
    private let engine: CurlMulti<HTTPTransfer>

    /// A client over at most `concurrency` connections, with its own curl thread.
    public init(concurrency: Int = 4) {
        engine = CurlMulti(maxConnections: max(1, concurrency), label: "curl.http")
    }

    deinit { engine.stop() }

    /// Sends a request and returns the response, whatever its status.
    /// - Throws: `HTTPClientError` when no response arrived within `timeout`.
    public func send(
        method: String, url: String, headers: [(String, String)] = [], body: [UInt8]? = nil, timeout: Duration = .seconds(10)
    ) async throws -> HTTPClientResponse {
        let exchange = await send(many: [HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: timeout)])[0]
        return try exchange.result.get()
    }

    /// Sends the requests side by side (as connections allow) and returns when all
    /// have a response or an error, in order. One suspension for the lot, instead
    /// of one per request: a sender's wave of calls costs one wake-up.
    public func send(many requests: [HTTPRequest]) async -> [HTTPExchange] {
        await engine.run(requests.map(HTTPTransfer.init)).map { HTTPExchange(result: $0.0, duration: $0.1) }
    }

    /// `send` with a JSON body.
    public func postJSON(_ url: String, _ body: [UInt8], headers: [(String, String)] = [], timeout: Duration = .seconds(10)) async throws -> HTTPClientResponse
    {
        try await send(method: "POST", url: url, headers: [("Content-Type", "application/json")] + headers, body: body, timeout: timeout)
    }

    /// A GET request.
    public func get(_ url: String, headers: [(String, String)] = [], timeout: Duration = .seconds(10)) async throws -> HTTPClientResponse {
        try await send(method: "GET", url: url, headers: headers, timeout: timeout)
    }
}
