import Foundation
import HeraldChannels
import HeraldCore
import HeraldDevTools
import HeraldTestSupport
import Testing

/// The API against its OpenAPI description: schemathesis (`scripts/check-api`)
/// generates requests from the document the ingestor serves and checks every
/// answer's status, media type, headers and body against it, that invalid input
/// is refused and that nothing answers 5xx.
@Suite("The API contract (schemathesis against a real ingestor, broker and redis-server)", .serialized, .timeLimit(.minutes(6)))
struct APIContractTests {
    /// Runs `scripts/check-api` against `ingestor`, from `schema` (a file) or the served document.
    func check(_ ingestor: TestIngestor, schema: String? = nil) async throws -> (status: Int32, output: String) {
        let log = try temporaryDirectory("check-api") + "/out.txt"
        let process = try ChildProcess(
            executable: "/usr/bin/env",
            arguments: ["bash", "\(BuiltProducts.packageRoot)/scripts/check-api", ingestor.apiURL, TestIngestor.adminKey] + (schema.map { [$0] } ?? []),
            environment: ProcessInfo.processInfo.environment.merging(["HERALD_API_CHECK_EXAMPLES": "30"]) { $1 }, output: .file(log))
        let status = await process.wait(timeout: .seconds(240)) ?? -1
        return (status, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }

    @Test("every operation of the served document conforms: documented statuses, media types and bodies, invalid input refused, no 5xx")
    func conforms() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let (status, output) = try await check(ingestor)
        #expect(status == 0, "\(output.suffix(6000))")
        // All of them were tested, not skipped for a schema schemathesis could not read.
        #expect(output.contains("Tested: 67"), "\(output.suffix(3000))")
    }

    @Test("a document that says otherwise than the API (POST /v1/lists answering 200 instead of 201) fails the check, naming the operation")
    func bites() async throws {
        let broker = try TestBroker.start(partitions: 2)
        let redis = try await TestRedisServer()
        let ingestor = try await TestIngestor(broker: broker, redis: redis)
        let served = try await HTTPClient(concurrency: 1).send(method: "GET", url: "\(ingestor.apiURL)/v1/openapi.yaml", headers: [], body: nil)
        #expect(served.status == 200)
        let marker = "operationId: createList"
        let text = served.bodyText
        guard let at = text.range(of: marker), let created = text.range(of: "\"201\":", range: at.upperBound..<text.endIndex) else {
            Issue.record("the served document has no 201 for createList")
            return
        }
        let file = try temporaryDirectory("check-api-schema") + "/openapi.yaml"
        try text.replacingCharacters(in: created, with: "\"200\":").write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try await check(ingestor, schema: file)
        #expect(status != 0)
        #expect(output.contains("POST /v1/lists") && output.contains("ST103 Undocumented status code"), "\(output.suffix(4000))")
    }
}
