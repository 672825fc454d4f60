import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Hummingbird
import Logging
import NIOCore
import Prometheus
import Synchronization

/// `/v1/imports`: CSV imports into the address book (docs/contacts.md, "Importing").
///
/// `POST /v1/imports?map=…&list=…&mode=…&country=…` takes the CSV as the body,
/// streamed to a file, and answers 202 with the job; the import then runs in
/// the background and `GET /v1/imports/{id}` follows it. With `dry_run=true`
/// the answer is the file as it would be imported, and nothing changes.
public struct ImportsAPI: Sendable {
    let importer: ContactImporter
    let jobs: ImportJobStore
    /// The largest CSV body taken.
    let maxBytes: Int
    /// Where bodies are spooled.
    let directory: String
    let logger: Logger
    var clock = WallClock.system

    /// How long a running job may go without a heartbeat before a retry may take it over.
    let staleAfter: Duration

    /// The routes: imports on `admin`, following them on `read`.
    public init(
        contacts: ContactStore, jobs: ImportJobStore, catalog: CampaignCatalog, producer: KafkaProducer, maxBytes: Int, directory: String,
        staleAfter: Duration, batchesAhead: Int, metrics: PrometheusCollectorRegistry, logger: Logger
    ) {
        self.staleAfter = staleAfter
        let gauge = metrics.makeGauge(
            descriptor: .init(
                metricName: "herald_import_batches_ahead", unitName: nil,
                helpText: "Import batches produced and not yet seen in the profiles, over every import of this ingestor (at most imports.batches_ahead)"),
            labels: [("worker", "ingestor")])
        var importer = ContactImporter(
            contacts: contacts, jobs: jobs, catalog: catalog, producer: producer, pacing: ImportPacing(places: batchesAhead, gauge: gauge), logger: logger)
        importer.heartbeatEvery = min(.seconds(5), staleAfter / 3)
        self.importer = importer
        self.jobs = jobs
        self.maxBytes = maxBytes
        self.directory = directory
        self.logger = logger
    }

    /// Adds the routes.
    public func addRoutes(read: some RouterMethods<BasicRequestContext>, admin: some RouterMethods<BasicRequestContext>) {
        admin.post("v1/imports") { request, context in await start(request, context) }
        read.get("v1/imports/template.csv") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"contacts-template.csv\""],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: ContactCSV(attributes: []).header())))
        }
        read.get("v1/imports/:id") { _, context in
            await guarded {
                let id = try Self.jobId(context.parameters.get("id"))
                guard let job = try await jobs.job(id) else { return APISupport.problem(.notFound, "no import '\(id)'") }
                return APISupport.json(.ok, Self.describe(id, job))
            }
        }
        read.get("v1/imports/:id/errors.csv") { _, context in
            await guarded {
                let id = try Self.jobId(context.parameters.get("id"))
                guard try await jobs.job(id) != nil else { return APISupport.problem(.notFound, "no import '\(id)'") }
                var out: [UInt8] = []
                ContactCSV.line(["line", "column", "reason"], to: &out)
                for e in try await jobs.errors(id) { ContactCSV.line([String(e.line), e.column, e.reason], to: &out) }
                return Response(status: .ok, headers: [.contentType: "text/csv; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: out)))
            }
        }
    }

    /// A job as `GET /v1/imports/{id}` shows it: numbers as numbers.
    static func describe(_ id: String, _ job: [String: String]) -> JSONValue {
        var o: [String: JSONValue] = ["id": .string(id)]
        for (k, v) in job where k != "fingerprint" { o[k] = Int64(v).map(JSONValue.int) ?? .string(v) }
        return .object(o)
    }

    /// A job id: an account-name-like word (the client's, to retry with, or ours).
    static func jobId(_ text: String?) throws(ResponseError) -> String {
        guard let text, AccountName.isValid(text) else {
            throw ResponseError(APISupport.problem(.badRequest, "id: 1 to 64 of a-z, 0-9, '_' and '-'", field: "id"))
        }
        return text
    }

    /// The parameters of `POST /v1/imports`.
    static func options(_ q: Parameters) throws(ResponseError) -> ImportOptions {
        func refuse(_ field: String, _ reason: String) -> ResponseError {
            ResponseError(APISupport.problem(.badRequest, "\(field): \(reason)", field: field))
        }
        var o = ImportOptions()
        if let map = q.get("map") {
            // The mapping's errors already start with "map: ".
            do { o.mapping = try ImportMapping(String(map)) } catch {
                throw ResponseError(APISupport.problem(.badRequest, error.description, field: "map"))
            }
        }
        o.lists = q.getAll("list").map { String($0) }.filter { !$0.isEmpty }
        // Checked here, not row by row: a bad list would reject every row of the file.
        guard o.lists.count <= ContactProfile.listCap else { throw refuse("list", "at most \(ContactProfile.listCap) lists, got \(o.lists.count)") }
        for l in o.lists where !ContactInput.isName(l) {
            throw refuse(
                "list", "'\(l.prefix(40))\(l.count > 40 ? "…" : "")' is not a list name: 1 to \(ContactInput.maxNameBytes) bytes, no control characters")
        }
        if let mode = q.get("mode") {
            guard let m = ImportMode(rawValue: String(mode)) else {
                throw refuse("mode", "one of \(ImportMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            o.mode = m
        }
        if let match = q.get("match") {
            guard let m = ImportMatch(rawValue: match) else { throw refuse("match", "one of id, email, phone") }
            o.match = m
        }
        o.country = q.get("country").map { String($0) }
        if let e = q.get("encoding") {
            guard let enc = CSVSource.Encoding(rawValue: e.lowercased()) else { throw refuse("encoding", "utf-8, utf-16 or windows-1250") }
            o.encoding = enc
        }
        if let d = q.get("delimiter") {
            switch d {
            case ",", ";": o.delimiter = UnicodeScalar(UInt8(ascii: d == "," ? "," : ";"))
            case "tab", "\t": o.delimiter = "\t"
            default: throw refuse("delimiter", "',', ';' or tab")
            }
        }
        return o
    }

    func start(_ request: Request, _ context: BasicRequestContext) async -> Response {
        await guarded {
            let q = request.uri.queryParameters
            let options = try Self.options(q)
            let dryRun = q.get("dry_run") == "true"
            let id = try q.get("id").map { text throws(ResponseError) in try Self.jobId(String(text)) } ?? "imp-" + UUID().uuidString.lowercased()
            if options.country != nil, PhoneNumber.e164("601234567", defaultCountry: options.country) == nil {
                throw ResponseError(APISupport.problem(.badRequest, "country: a country calling code such as +420", field: "country"))
            }
            if !dryRun, let job = try await jobs.job(id) {
                if job["fingerprint"] != options.fingerprint {
                    return APISupport.problem(.conflict, "import '\(id)' was started with other parameters", field: "id")
                }
                if job["state"] == "done" { return APISupport.json(.ok, Self.describe(id, job)) }
            }
            let path = try await CSVUpload.save(request, context: context, directory: directory, maxBytes: maxBytes)
            if dryRun {
                defer { try? FileManager.default.removeItem(atPath: path) }
                return try await dryRunAnswer(path: path, options: options)
            }
            let run = try await jobs.claim(
                id, now: clock.now(), staleAfter: staleAfter,
                fields: ["fingerprint": options.fingerprint, "started_at_ms": String(clock.now()), "mode": options.mode.rawValue, "error": ""])
            guard let run else {
                try? FileManager.default.removeItem(atPath: path)
                return APISupport.problem(.conflict, "import '\(id)' is running; follow it at /v1/imports/\(id)", field: "id")
            }
            let importer = self.importer
            Task.detached { await importer.run(id: id, run: run, path: path, options: options) }
            return APISupport.json(.accepted, ["id": .string(id), "state": "running", "url": .string("/v1/imports/\(id)")])
        }
    }

    /// The file as it would be imported: header, dialect, each mapped column's
    /// detected type, the first rows as they would be applied, the first errors.
    func dryRunAnswer(path: String, options: ImportOptions) async throws -> Response {
        let source: CSVSource
        do { source = try await CSVSource.open(path: path, encoding: options.encoding, delimiter: options.delimiter) } catch let e as ImportError {
            return APISupport.problem(.unprocessableContent, e.description)
        }
        defer { source.stop() }
        let rows: ImportRows
        let mapping: ImportMapping
        do {
            mapping = try options.mapping ?? ImportMapping.identity(headers: source.header)
            rows = try ImportRows(mapping: mapping, header: source.header, lists: options.lists, defaultCountry: options.country, match: options.match)
        } catch let error as ImportError {
            return APISupport.problem(.unprocessableContent, error.description, extra: ["header": .array(source.header.map(JSONValue.string))])
        }
        let batch = (try await source.next()) ?? []
        var mapped: [JSONValue] = []
        var errors: [JSONValue] = []
        for (cells, line) in batch {
            switch rows.read(cells, line: line) {
            case .row(let r) where mapped.count < 10:
                mapped.append([
                    "line": .int(Int64(line)), "contact_id": r.contactId.map(JSONValue.string) ?? .null, "match_key": r.matchKey.map(JSONValue.string) ?? .null,
                    "change": r.body,
                ])
            case .row: break
            case .rejected(let es):
                for e in es where errors.count < 20 {
                    errors.append(["line": .int(Int64(e.line)), "column": .string(e.column), "reason": .string(e.reason)])
                }
            }
        }
        let columns: [JSONValue] = mapping.columns.map { c in
            let index = source.header.firstIndex(of: c.header) ?? 0
            return [
                "header": .string(c.header), "target": .string(c.target.text),
                "detected": .string(ImportRows.detectType(batch.map { index < $0.cells.count ? $0.cells[index] : "" })),
            ]
        }
        return APISupport.json(
            .ok,
            [
                "dry_run": true, "header": .array(source.header.map(JSONValue.string)), "encoding": .string(source.dialect.encoding.rawValue),
                "delimiter": .string(source.dialect.delimiter == "\t" ? "tab" : String(source.dialect.delimiter)), "columns": .array(columns),
                "rows_checked": .int(Int64(batch.count)), "rows": .array(mapped), "errors": .array(errors),
            ])
    }

    /// An answer that ends a request early (the one refusal type of the ingestor's admin routes).

    func guarded(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let refusal as ResponseError { return refusal.response } catch {
            logger.warning("imports API failed", metadata: ["herald.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "the import store is unavailable; retry", headers: [.retryAfter: "1"])
        }
    }
}
