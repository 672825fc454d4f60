import Foundation
import HeraldCore
import HeraldRedis
import Hummingbird
import Logging

/// `/v1/broadcasts` (admin scope): one-shot campaigns over the address book
/// (docs/broadcasts.md). `POST` creates a draft whose audience's members the
/// planner adds as recipients (`initial` at once); `POST /{id}/start`, `pause`,
/// `resume` and `cancel` move it; `POST /{id}/recipients` adds another
/// audience; `GET /{id}` shows it with its counts per state and progress;
/// `GET /{id}/recipients?state=…` pages through its recipients.
public struct BroadcastsAPI: Sendable {
    let store: BroadcastStore
    let contacts: ContactStore
    let templates: WhatsAppCatalog
    let maxBodyBytes: Int
    /// Where uploaded recipient CSVs are kept while they are read, and their largest size (`imports.*`).
    let directory: String, maxCSVBytes: Int
    let logger: Logger
    var clock = WallClock.system

    /// The routes over `store`; CSV recipients become contacts of `contacts` by phone.
    public init(
        store: BroadcastStore, contacts: ContactStore, templates: WhatsAppCatalog, maxBodyBytes: Int, directory: String, maxCSVBytes: Int, logger: Logger
    ) {
        self.store = store
        self.contacts = contacts
        self.templates = templates
        self.maxBodyBytes = maxBodyBytes
        self.directory = directory
        self.maxCSVBytes = maxCSVBytes
        self.logger = logger
    }

    /// Every route needs the admin scope: broadcasts send to many at once.
    public func addRoutes(to admin: some RouterMethods<BasicRequestContext>) {
        admin.post("v1/broadcasts") { request, _ in await guarded { try await create(request) } }
        admin.get("v1/broadcasts") { request, _ in
            await guarded {
                let page = try KeyedPage(
                    try await store.all(), key: { KeyedPage.oldestFirst($0.createdAt, $0.broadcast.id) }, request: request, json: summary)
                return APISupport.json(.ok, page.json("broadcasts"))
            }
        }
        admin.get("v1/broadcasts/:id") { _, context in
            await guarded {
                let record = try await record(context)
                return APISupport.json(.ok, try await detail(record))
            }
        }
        for action in BroadcastState.Action.allCases {
            admin.post("v1/broadcasts/:id/\(action.rawValue)") { _, context in await guarded { try await apply(action, context) } }
        }
        admin.post("v1/broadcasts/:id/recipients") { request, context in
            await guarded {
                request.headers[.contentType]?.lowercased().hasPrefix("text/csv") == true
                    ? try await addCSV(request, context) : try await addAudience(request, context)
            }
        }
        admin.get("v1/broadcasts/:id/template.csv") { _, context in await guarded { try await blank(context) } }
        admin.get("v1/broadcasts/:id/recipients.csv") { request, context in await guarded { try await export(request, context) } }
        admin.get("v1/broadcasts/:id/recipients") { request, context in await guarded { try await recipients(request, context) } }
    }

    func record(_ context: BasicRequestContext) async throws -> BroadcastStore.Record {
        let id = try SegmentsAPI.id(context.parameters.get("id"))
        guard let record = try await store.get(id) else { throw ResponseError(APISupport.problem(.notFound, "no broadcast '\(id)'")) }
        return record
    }

    func create(_ request: Request) async throws -> Response {
        let body = try await ListsAPI.body(request, maxBytes: maxBodyBytes, allowed: Broadcast.fields)
        let now = clock.now()
        let broadcast: Broadcast
        do { broadcast = try Broadcast(json: .object(body), now: now) } catch {
            return APISupport.problem(.unprocessableContent, error.description, field: error.field)
        }
        guard try await store.create(broadcast, now: now) else {
            return APISupport.problem(.conflict, "broadcast '\(broadcast.id)' exists", field: "id")
        }
        guard let record = try await store.get(broadcast.id) else { throw RedisError(code: .server, message: "broadcast vanished after create") }
        return APISupport.json(.created, summary(record))
    }

    func apply(_ action: BroadcastState.Action, _ context: BasicRequestContext) async throws -> Response {
        let id = try SegmentsAPI.id(context.parameters.get("id"))
        switch try await store.apply(action, to: id, now: clock.now(), reason: "\(action.rawValue) by an administrator") {
        case .moved:
            guard let record = try await store.get(id) else { throw RedisError(code: .server, message: "broadcast vanished") }
            logger.info("broadcast \(action.rawValue)", metadata: ["herald.broadcast": "\(id)", "herald.state": "\(record.state.rawValue)"])
            return APISupport.json(.ok, summary(record))
        case .refused(let state):
            return APISupport.problem(
                .conflict, "broadcast '\(id)' is \(state.rawValue): it cannot \(action.rawValue)", extra: ["state": .string(state.rawValue)])
        case .unknown:
            return APISupport.problem(.notFound, "no broadcast '\(id)'")
        }
    }

    func addAudience(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let record = try await record(context)
        let body = try await ListsAPI.body(request, maxBytes: maxBodyBytes, allowed: ["audience"])
        let audience: Broadcast.Audience
        do { audience = try Broadcast.Audience(json: body["audience"] ?? .null) } catch {
            return APISupport.problem(.unprocessableContent, error.description, field: error.field)
        }
        guard !record.state.isFinal else {
            return APISupport.problem(.conflict, "broadcast '\(record.broadcast.id)' is \(record.state.rawValue): no recipients can be added")
        }
        guard try await store.queueAddition(audience, to: record.broadcast.id) else {
            return APISupport.problem(.conflict, "recipients are still being added to this broadcast; try again when `adding` is false")
        }
        return APISupport.json(.accepted, ["id": .string(record.broadcast.id), "adding": audience.json])
    }

    /// Adds the recipients of an uploaded CSV (`BroadcastRecipientRows`): each
    /// phone becomes the contact that holds it, or a new contact with it (the id
    /// an import matching by phone would give it, `ImportMatch.derivedId`). Rows
    /// are read and added 1,000 at a time; a refused row is reported with its
    /// line, column and reason and never stops the others.
    func addCSV(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let record = try await record(context)
        guard !record.state.isFinal else {
            return APISupport.problem(.conflict, "broadcast '\(record.broadcast.id)' is \(record.state.rawValue): no recipients can be added")
        }
        let q = request.uri.queryParameters
        let country = q.get("country").map { String($0) }
        if country != nil, PhoneNumber.e164("601234567", defaultCountry: country) == nil {
            return APISupport.problem(.badRequest, "country: a country calling code such as +420", field: "country")
        }
        let path = try await CSVUpload.save(request, context: context, directory: directory, maxBytes: maxCSVBytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source: CSVSource
        do { source = try await CSVSource.open(path: path, encoding: nil, delimiter: nil) } catch let e as ImportError {
            return APISupport.problem(.unprocessableContent, e.description)
        }
        defer { source.stop() }
        let rows: BroadcastRecipientRows
        do { rows = try BroadcastRecipientRows(broadcast: record.broadcast, header: source.header, country: country) } catch {
            return APISupport.problem(.unprocessableContent, error.description, field: error.field)
        }
        var counts = (rows: 0, added: 0, already: 0, rejected: 0)
        var errors: [JSONValue] = []
        while let batch = try await source.next() {
            var valid: [(phone: String, event: [String: JSONValue], variables: [TemplateVariable])] = []
            for (cells, line) in batch {
                counts.rows += 1
                switch rows.read(cells, line: line) {
                case .row(let phone, let event, let variables): valid.append((phone, event, variables))
                case .rejected(let line, let column, let reason):
                    counts.rejected += 1
                    if errors.count < 100 { errors.append(["line": .int(Int64(line)), "column": .string(column), "reason": .string(reason)]) }
                }
            }
            let added = try await add(valid, to: record)
            counts.added += added
            counts.already += valid.count - added
        }
        return APISupport.json(
            .ok,
            [
                "id": .string(record.broadcast.id), "rows": .int(Int64(counts.rows)), "added": .int(Int64(counts.added)),
                "already_in": .int(Int64(counts.already)), "rejected": .int(Int64(counts.rejected)), "errors": .array(errors),
            ])
    }

    /// Adds one batch of CSV recipients; how many were new to the broadcast.
    func add(_ valid: [(phone: String, event: [String: JSONValue], variables: [TemplateVariable])], to record: BroadcastStore.Record) async throws -> Int {
        guard !valid.isEmpty else { return 0 }
        let now = clock.now()
        let found = try await contacts.find(.phone, valid.map(\.phone))
        var created: [(contactId: String, change: ContactChange)] = []
        var requests: [SendRequest] = []
        for row in valid {
            let id = found[row.phone]?.id ?? ImportMatch.phone.derivedId(row.phone)
            if found[row.phone] == nil {
                var change = ContactChange()
                change.fields["phone"] = .string(row.phone)
                created.append((id, change))
            }
            var r = record.broadcast.request(for: id, now: now)
            r.event = row.event
            r.variables = row.variables
            // The row's number is the contact's `phone` (found or written by it), whatever field the audience uses.
            r.phoneField = ""
            requests.append(r)
        }
        if !created.isEmpty { try await contacts.apply(created, now: now) }
        // Released by the planner, which owns the window: those after its cursors
        // in turn, those behind them by the pass asked for here, which runs after
        // these writes (a release decided here could race with the window moving).
        let new = try await store.addRecipients(record.broadcast, requests: requests, release: .none, now: now)
        if !new.isEmpty { try await store.requestRelease(record.broadcast.id) }
        return new.count
    }

    /// The blank recipient CSV for the broadcast's template: `phone`, then one
    /// column per variable — the broadcast's own variables, or as many as the
    /// synced catalogue says the template takes (`heraldctl templates sync`).
    func blank(_ context: BasicRequestContext) async throws -> Response {
        let record = try await record(context)
        let b = record.broadcast
        var count = b.variables.count
        if count == 0 && b.channel == .whatsapp {
            let matches = try await templates.entries().values.filter { $0.name == b.template && (b.language.isEmpty || $0.language == b.language) }
            guard let entry = matches.sorted(by: { $0.language < $1.language }).first else {
                return APISupport.problem(.conflict, "WhatsApp template '\(b.template)' is not in the synced catalogue (heraldctl templates sync)")
            }
            count = entry.parameters
        }
        var bytes: [UInt8] = []
        ContactCSV.line(BroadcastRecipientRows.blankHeader(variables: count), to: &bytes)
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(b.id)-recipients.csv\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Every recipient (optionally of one `state`) as CSV: contact, send id,
    /// state, reason, attempts, next attempt, last change. Streamed shard by
    /// shard, 500 at a time, so any size is exported in bounded memory; a Redis
    /// failure midway cuts the chunked body short, which a client sees as an error.
    func export(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let record = try await record(context)
        let state = try Self.state(request.uri.queryParameters.get("state").map { String($0) })
        let store = self.store, logger = self.logger, id = record.broadcast.id
        let body = ResponseBody { writer in
            var header: [UInt8] = []
            ContactCSV.line(["contact_id", "send_id", "state", "reason", "attempts", "next_attempt", "updated"], to: &header)
            try await writer.write(ByteBuffer(bytes: header))
            do {
                for shard in 0..<store.partitions {
                    var after: String?
                    while true {
                        let ids = try await store.recipientIds(id, shard: shard, after: after, limit: 500)
                        var out: [UInt8] = []
                        for r in try await store.recipients(shard: shard, sendIds: ids) where state == nil || r.fields["state"] == state?.rawValue {
                            func time(_ k: String) -> String { r.fields[k].flatMap { Int64($0) }.map { RFC3339.format(milliseconds: $0) } ?? "" }
                            let next = r.fields["state"] == MessageState.retryScheduled.rawValue ? time("next_ms") : ""
                            ContactCSV.line(
                                [
                                    r.contactId, r.sendId, r.fields["state"] ?? "", r.fields["reason"] ?? "", r.fields["attempts"] ?? "", next,
                                    time("updated_ms"),
                                ],
                                to: &out)
                        }
                        if !out.isEmpty { try await writer.write(ByteBuffer(bytes: out)) }
                        guard ids.count == 500 else { break }
                        after = ids.last
                    }
                }
                try await writer.finish(nil)
            } catch {
                logger.warning("broadcast recipients export stopped midway", metadata: ["herald.broadcast": "\(id)", "herald.error": "\(error)"])
                throw error
            }
        }
        return Response(
            status: .ok, headers: [.contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"\(id)-recipients.csv\""],
            body: body)
    }

    /// The `state` parameter: nil when absent.
    /// - Throws: `ResponseError` (400) naming the states there are.
    static func state(_ text: String?) throws(ResponseError) -> MessageState? {
        guard let text else { return nil }
        guard let s = MessageState(rawValue: text) else {
            let names = MessageState.allCases.map(\.rawValue).joined(separator: ", ")
            throw ResponseError(APISupport.problem(.badRequest, "state must be one of \(names)", field: "state"))
        }
        return s
    }

    /// Pages through recipients, optionally of one state. A page reads at most
    /// 20 chunks of ids, so a rare state answers in bounded time: it may then
    /// hold fewer than `limit` with a cursor to go on (only no `next_cursor` ends it).
    func recipients(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let record = try await record(context)
        let q = request.uri.queryParameters
        let limit = try AddressBookAPI.limit(q.get("limit").map { String($0) })
        let state = try Self.state(q.get("state").map { String($0) })
        var next: AddressBookCursor? =
            try q.get("cursor").map { text throws(ContactFilterError) in try AddressBookCursor(text: String(text), partitions: store.partitions) }
            ?? AddressBookCursor(shard: 0, after: nil)
        var out: [JSONValue] = []
        var reads = 0
        while let at = next, out.count < limit, reads < 20 {
            reads += 1
            let ids = try await store.recipientIds(record.broadcast.id, shard: at.shard, after: at.after, limit: 500)
            // In id order; a recipient whose record expired is skipped.
            var stoppedAt: String?
            for r in try await store.recipients(shard: at.shard, sendIds: ids) where state == nil || r.fields["state"] == state?.rawValue {
                out.append(Self.json(r))
                if out.count == limit {
                    stoppedAt = r.sendId
                    break
                }
            }
            if let stoppedAt {
                next = AddressBookCursor(shard: at.shard, after: stoppedAt)
            } else if ids.count == 500 {
                next = AddressBookCursor(shard: at.shard, after: ids.last)
            } else {
                next = at.shard + 1 < store.partitions ? AddressBookCursor(shard: at.shard + 1, after: nil) : nil
            }
        }
        var body: [String: JSONValue] = ["recipients": .array(out)]
        body["next_cursor"] = next.map { .string($0.text) } ?? .null
        return APISupport.json(.ok, .object(body))
    }

    static func json(_ r: BroadcastStore.Recipient) -> JSONValue {
        var o: [String: JSONValue] = ["contact_id": .string(r.contactId), "send_id": .string(r.sendId)]
        for (k, v) in r.fields where !v.isEmpty {
            if k.hasSuffix("_ms") || k == "attempts", let n = Int64(v) { o[k] = .int(n) } else { o[k] = .string(v) }
        }
        // The next attempt's time is shown only where it means one.
        if r.fields["state"] != MessageState.retryScheduled.rawValue { o["next_ms"] = nil }
        return .object(o)
    }

    func summary(_ r: BroadcastStore.Record) -> JSONValue {
        var o = r.broadcast.json.objectValue ?? [:]
        o["state"] = .string(r.state.rawValue)
        if !r.reason.isEmpty { o["reason"] = .string(r.reason) }
        o["created_at_ms"] = .int(r.createdAt)
        o["updated_at_ms"] = .int(r.updatedAt)
        o["recipients"] = .int(Int64(r.added))
        o["adding"] = .bool(r.adding != nil)
        return .object(o)
    }

    /// The summary with counts per recipient state and how many are done.
    func detail(_ r: BroadcastStore.Record) async throws -> JSONValue {
        var o = summary(r).objectValue ?? [:]
        let counts = try await store.counts(r.broadcast)
        o["counts"] = .object(Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, .int(Int64($0.value))) }))
        let total = counts.values.reduce(0, +)
        let done = counts.filter { $0.key.isFinal }.values.reduce(0, +)
        var progress: [String: JSONValue] = ["total": .int(Int64(total)), "done": .int(Int64(done))]
        // The pace the limits in force allow, as the planner saw it lately; the ETA follows.
        if r.state == .running, r.pace > 0 {
            progress["per_second"] = .double((r.pace * 10).rounded() / 10)
            progress["eta_seconds"] = .int(Int64((Double(total - done) / r.pace).rounded(.up)))
        }
        o["progress"] = .object(progress)
        return .object(o)
    }

    func guarded(_ body: () async throws -> Response) async -> Response {
        do { return try await body() } catch let refusal as ResponseError { return refusal.response } catch let error as ContactFilterError {
            return APISupport.problem(.badRequest, error.description, field: error.parameter)
        } catch {
            logger.warning("broadcasts API could not reach Redis", metadata: ["redis.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "the broadcast store is unavailable; retry", headers: [.retryAfter: "1"])
        }
    }
}
