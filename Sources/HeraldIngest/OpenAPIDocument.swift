import HeraldCore
import Hummingbird
import NIOCore

/// The API's OpenAPI 3.1 description, served without a key at
/// `GET /v1/openapi.yaml` and `GET /v1/openapi.json` so clients and tools such as
/// schemathesis read the contract from the running ingestor.
enum OpenAPIDocument {
    /// The YAML, with this build's version.
    static let yaml: String = text.replacingOccurrences(of: "HERALD_VERSION", with: HeraldVersion.current)

    /// The same document as JSON bytes, converted once.
    static let json: [UInt8] = {
        // The text is this file's own: a failure here is a build mistake that
        // OpenAPIDocumentTests reports; the route then answers the YAML's error.
        do { return try YAMLValue.parse(yaml).serialized() } catch {
            return JSONValue.object(["error": .string("the OpenAPI text does not parse: \(error)")]).serialized()
        }
    }()

    /// Adds the two routes, open to anyone (the contract is not a secret).
    static func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
        }
        router.get("v1/openapi.yaml") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: ResponseBody(byteBuffer: ByteBuffer(string: yaml)))
        }
    }
}
