import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Logging

/// What an import does with a row whose contact exists, or does not.
enum ImportMode: String, Sendable, CaseIterable {
    /// Creates new contacts and updates existing ones.
    case createOrUpdate = "create_or_update"
    /// Creates new contacts; rows of existing ones are skipped.
    case onlyNew = "only_new"
    /// Updates existing contacts; rows of unknown ones are skipped.
    case onlyExisting = "only_existing"
}

/// An import's parameters, as `POST /v1/imports` takes them.
struct ImportOptions: Sendable {
    /// Column → field; nil: each header names its own field (a template or an export).
    var mapping: ImportMapping?
    /// Lists every imported contact joins.
    var lists: [String] = []
    var mode: ImportMode = .createOrUpdate
    /// What rows find their contact by.
    var match: ImportMatch = .id
    /// The country code national phone numbers get.
    var country: String?
    var encoding: CSVSource.Encoding?
    var delimiter: UnicodeScalar?

    /// The parameters as the job records them (a retry must name the same).
    var fingerprint: String {
        [
            mapping?.columns.map { "\($0.header)=\($0.target.text)" }.joined(separator: ",") ?? "(headers)", lists.joined(separator: "|"), mode.rawValue,
            country ?? "", encoding?.rawValue ?? "", delimiter.map { String($0) } ?? "",
        ].joined(separator: "\u{1F}") + (match == .id ? "" : "\u{1F}match=\(match.rawValue)")
    }
}

/// Imports a CSV file into the address book through `herald.events.raw`, keyed
/// by contact id: each row becomes a `contact_updated` event (its fields and
/// attributes), plus `list_subscribed` and `tag_added` for lists and tags the
/// contact is not on yet, all with `properties.source: import`. Rows therefore
/// take their place among the contact's live events, pass the same validation
/// and dedupe, and change profiles through the one profile applier.
///
/// Exactly once, across a restart: after each batch is acknowledged by Kafka
/// the job records how many rows are done (`committed`); a resumed import
/// skips them. Rows of a batch produced before a crash are produced again with
/// the same event ids (from the contact and the change), which the intake's
/// dedupe drops. A list event is only made for a contact not yet on the list,
/// so importing the same file again starts nothing twice.
struct ContactImporter: Sendable {
    let contacts: ContactStore
    let jobs: ImportJobStore
    let producer: KafkaProducer
    let logger: Logger
    var clock = WallClock.system

    /// Runs job `id` over the file at `path`, already claimed. Never throws: the
    /// job records how it ended.
    func run(id: String, path: String, options: ImportOptions) async {
        var counts: [String: Int] = [:]
        do {
            let job = try await jobs.job(id) ?? [:]
            for k in ["rows", "created", "updated", "rejected", "skipped", "committed"] { counts[k] = Int(job[k] ?? "0") ?? 0 }
            let source = try await CSVSource.open(path: path, encoding: options.encoding, delimiter: options.delimiter, skipRows: counts["committed"]!)
            defer { source.stop() }
            let mapping = try options.mapping ?? ImportMapping.identity(headers: source.header)
            let rows = try ImportRows(mapping: mapping, header: source.header, lists: options.lists, defaultCountry: options.country, match: options.match)
            try await jobs.update(
                id,
                set: [
                    "encoding": source.dialect.encoding.rawValue, "delimiter": String(source.dialect.delimiter),
                    "bytes_total": String(source.progress.withLock { $0.bytes }),
                ])
            var inFlight: [(producedAt: Int64, sentinels: Set<String>)] = []
            while let batch = try await source.next() {
                let (records, errors, batchCounts) = try await events(for: batch, rows: rows, mode: options.mode)
                // Pacing: at most `batchesAhead` batches ahead of the profiles. An
                // import must not outrun the consumers it feeds: on a broker with
                // short retention (the embedded one keeps 5 MB a partition) the
                // backlog would be deleted unread, and on any broker live events
                // would queue behind it.
                if inFlight.count >= batchesAhead { try await waitApplied(inFlight.removeFirst()) }
                let producedAt = clock.now()
                var lastByPartition: [Int: String] = [:]
                for (record, report) in zip(records, await producer.send(records)) {
                    switch report {
                    case .success(let r): lastByPartition[r.partition] = record.key
                    case .failure(let error): throw error
                    }
                }
                inFlight.append((producedAt, Set(lastByPartition.values.compactMap { $0 })))
                for (k, v) in batchCounts { counts[k, default: 0] += v }
                counts["rows", default: 0] += batch.count
                counts["committed", default: 0] += batch.count
                var fields = counts.mapValues(String.init)
                fields["heartbeat_ms"] = String(clock.now())
                fields["rows_read"] = String(source.progress.withLock { $0.rows })
                try await jobs.update(id, set: fields, errors: errors.map { "\($0.line)\u{1F}\($0.column)\u{1F}\($0.reason)" })
            }
            var fields = counts.mapValues(String.init)
            fields["state"] = "done"
            fields["finished_at_ms"] = String(clock.now())
            try await jobs.update(id, set: fields)
            logger.info("import finished", metadata: ["herald.import": "\(id)", "herald.rows": "\(counts["rows"] ?? 0)"])
        } catch {
            logger.warning("import stopped", metadata: ["herald.import": "\(id)", "herald.error": "\(error)"])
            // A failure to record the failure leaves the job "running" with an old
            // heartbeat: a retry claims it as abandoned, which is what it is.
            try? await jobs.update(id, set: ["state": "failed", "error": "\(error)", "finished_at_ms": String(clock.now())])
        }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Batches produced but not yet seen in the profiles, at most.
    var batchesAhead = 8

    /// Waits until each sentinel contact's profile changed after `producedAt`
    /// (each is the last contact of its partition in the batch, so in-order
    /// consumers have applied the batch there), for at most a minute: pacing,
    /// not correctness, so a contact changed by something else cannot stop it.
    func waitApplied(_ batch: (producedAt: Int64, sentinels: Set<String>)) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var waiting = batch.sentinels
        while !waiting.isEmpty && ContinuousClock.now < deadline {
            let profiles = try await contacts.get(many: Array(waiting))
            waiting = waiting.filter { (profiles[$0]?.updatedAt ?? Int64.min) < batch.producedAt }
            if !waiting.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// The contact of each row: its `id` column when matching by id; else the
    /// contact that holds the row's email or phone now, or the row's `id`, or
    /// an id derived from the email or phone (`ImportMatch.derivedId`), so
    /// running the file again finds the same contacts.
    func contactIds(of rows: [ImportRows.Row], match: ImportMatch) async throws -> [String] {
        guard match != .id else { return rows.map { $0.contactId ?? "" } }
        let field: ContactStore.LookupField = match == .email ? .email : .phone
        let found = try await contacts.find(field, rows.compactMap(\.matchKey))
        return rows.map { row in
            let key = row.matchKey ?? ""
            return found[key]?.id ?? row.contactId ?? match.derivedId(key)
        }
    }

    /// The events of one batch, its rejected rows, and its counts.
    func events(for batch: CSVSource.Batch, rows: ImportRows, mode: ImportMode) async throws -> (
        [KafkaOutgoingRecord], [ImportRows.RowError], [String: Int]
    ) {
        var valid: [ImportRows.Row] = []
        var errors: [ImportRows.RowError] = []
        for (cells, line) in batch {
            switch rows.read(cells, line: line) {
            case .row(let r): valid.append(r)
            case .rejected(let e): errors += e
            }
        }
        var counts = ["rejected": Set(errors.map(\.line)).count]
        let ids = try await contactIds(of: valid, match: rows.match)
        var profiles = try await contacts.get(many: Array(Set(ids)))
        var records: [KafkaOutgoingRecord] = []
        let now = clock.now()
        for (row, contactId) in zip(valid, ids) {
            let before = profiles[contactId]
            switch (mode, before) {
            case (.onlyNew, _?), (.onlyExisting, nil):
                counts["skipped", default: 0] += 1
                continue
            default: counts[before == nil ? "created" : "updated", default: 0] += 1
            }
            var fields = row.body.objectValue ?? [:]
            fields["lists"] = nil
            fields["tags"] = nil
            var events: [Event] = []
            if !fields.isEmpty {
                let digest = Hashing.sha256(Array("\(contactId)\u{1F}contact_updated\u{1F}".utf8) + JSONValue.object(fields).serialized())
                events.append(
                    Event(
                        id: "import-" + Hashing.hex(digest.prefix(16)), type: "contact_updated", contactId: contactId, timestamp: now, receivedAt: now,
                        properties: fields))
            }
            var membership = ContactChange()
            membership.addLists = row.change.addLists
            membership.addTags = row.change.addTags
            // Against the profile as stored, before this import's own rows: ids stay
            // the same when the import is resumed or run again.
            events += membership.membershipEvents(before: before, contactId: contactId, now: now, source: "import")
            // A later row of the same contact in this file sees this one's lists and tags.
            var after = before ?? ContactProfile(id: contactId)
            after.lists.formUnion(row.change.addLists)
            after.tags.formUnion(row.change.addTags)
            profiles[contactId] = after
            for e in events {
                // The raw topic's form (as a bulk producer writes it): validated and stamped on intake.
                let raw: JSONValue = ["id": .string(e.id), "type": .string(e.type), "contact_id": .string(e.contactId), "properties": .object(e.properties)]
                records.append(KafkaOutgoingRecord(topic: Topics.eventsRaw, key: contactId, value: raw.serialized()))
            }
        }
        return (records, errors, counts)
    }
}
