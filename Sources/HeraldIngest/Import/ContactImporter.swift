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
/// by contact id: each row becomes one `contact_updated` event (its fields,
/// attributes, lists and tags). Rows therefore take their place among the
/// contact's live events, pass the same validation and dedupe, and change
/// profiles through the one profile applier, one profile write per row.
/// `list_subscribed` and `tag_added` events (with `properties.source: import`)
/// are added only for lists and tags the contact is not on yet and that a live
/// campaign starts or ends journeys on (`CampaignCatalog.importAnnouncements`):
/// they start journeys, the row's own event already changed the profile.
/// Decision: one event per row, not one per list and tag, since measured
/// (docs/benchmarks.md) the intake and the profile applier cost the same per
/// event, and an 8-column row with a list and a tag was three events.
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
    let catalog: CampaignCatalog
    let producer: KafkaProducer
    /// The places of this process's imports ahead of the profiles, shared by all of them.
    let pacing: ImportPacing
    let logger: Logger
    var clock = WallClock.system

    /// Runs job `id` over the file at `path`, claimed as `run`. Never throws: the
    /// job records how it ended, unless a later run took it over (this one was
    /// paused past the stale bound): then this one stops and writes nothing more.
    func run(id: String, run: String, path: String, options: ImportOptions) async {
        var counts: [String: Int] = [:]
        // Places this run holds in `pacing`: its batches produced, or being
        // produced, and not yet seen in the profiles. Given back as each is
        // seen, and all at once when the run ends, however it ends.
        var held = 0
        // The job's heartbeat says this run is alive, not that it advanced: a
        // run waiting for the profiles (up to a minute a batch) or in line for
        // a place in `pacing` commits nothing, yet is not abandoned, and a
        // retry past `imports.stale_after` would take it over. A run stopped
        // (SIGSTOP, a stalled host) or dead stops beating, as before.
        let beat = Task { [jobs, clock, heartbeatEvery] in
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeatEvery)
                guard !Task.isCancelled else { return }
                do {
                    try await jobs.update(id, run: run, set: ["heartbeat_ms": String(clock.now())])
                } catch is ImportTakenOver {
                    return
                } catch {
                    continue  // Redis away: the next beat tries again
                }
            }
        }
        defer { beat.cancel() }
        do {
            let job = try await riding { try await jobs.job(id) } ?? [:]
            for k in ["rows", "created", "updated", "rejected", "skipped", "committed"] { counts[k] = Int(job[k] ?? "0") ?? 0 }
            let source = try await CSVSource.open(path: path, encoding: options.encoding, delimiter: options.delimiter, skipRows: counts["committed"]!)
            defer { source.stop() }
            let mapping = try options.mapping ?? ImportMapping.identity(headers: source.header)
            let rows = try ImportRows(mapping: mapping, header: source.header, lists: options.lists, defaultCountry: options.country, match: options.match)
            try await riding {
                try await jobs.update(
                    id, run: run,
                    set: [
                        "encoding": source.dialect.encoding.rawValue, "delimiter": String(source.dialect.delimiter),
                        "bytes_total": String(source.progress.withLock { $0.bytes }),
                    ])
            }
            var inFlight: [(producedAt: Int64, sentinels: Set<String>)] = []
            // Batches being produced while the next ones are read and mapped, oldest
            // first: a batch's rows count as committed once Kafka acknowledged all
            // of them and every batch before it.
            var sending:
                [(
                    records: [KafkaOutgoingRecord], reports: Task<[Result<KafkaDeliveryReport, KafkaError>], Never>, producedAt: Int64, rows: Int,
                    counts: [String: Int], errors: [ImportRows.RowError]
                )] = []
            func commit() async throws {
                guard !sending.isEmpty else { return }
                let s = sending.removeFirst()
                var lastByPartition: [Int: String] = [:]
                for (record, report) in zip(s.records, await s.reports.value) {
                    switch report {
                    case .success(let r): lastByPartition[r.partition] = record.key
                    case .failure(let error): throw error
                    }
                }
                inFlight.append((s.producedAt, Set(lastByPartition.values.compactMap { $0 })))
                for (k, v) in s.counts { counts[k, default: 0] += v }
                counts["rows", default: 0] += s.rows
                counts["committed", default: 0] += s.rows
                var fields = counts.mapValues(String.init)
                fields["heartbeat_ms"] = String(clock.now())
                fields["rows_read"] = String(source.progress.withLock { $0.rows })
                let errors = s.errors.map { "\($0.line)\u{1F}\($0.column)\u{1F}\($0.reason)" }
                try await riding { try await jobs.update(id, run: run, set: fields, errors: errors) }
            }
            // The next batch is read and looked up while this one is mapped and produced.
            var upcoming = Task { try await prepare(source, rows: rows) }
            while let prepared = try await next(upcoming, settling: { while !sending.isEmpty { try await commit() } }) {
                upcoming = Task { try await prepare(source, rows: rows) }
                let (records, errors, batchCounts) = events(for: prepared, mode: options.mode)
                if sending.count >= batchesSending { try await commit() }
                // Pacing: at most `pacing.places` batches of all this process's
                // imports ahead of the profiles. Imports must not outrun the
                // consumers they feed: on a broker with short retention (the
                // embedded one keeps 5 MB a partition) the backlog would be
                // deleted unread, and on any broker live events would queue behind it.
                try await pacing.take(holding: held) {
                    if inFlight.isEmpty { try await commit() }
                    try await waitApplied(inFlight.removeFirst())
                    held -= 1
                    pacing.give()
                }
                held += 1
                let producer = self.producer
                sending.append((records, Task { await producer.send(records) }, clock.now(), prepared.rows, batchCounts, errors))
            }
            while !sending.isEmpty { try await commit() }
            var fields = counts.mapValues(String.init)
            fields["state"] = "done"
            fields["finished_at_ms"] = String(clock.now())
            try await riding { try await jobs.update(id, run: run, set: fields) }
            logger.info("import finished", metadata: ["herald.import": "\(id)", "herald.rows": "\(counts["rows"] ?? 0)"])
        } catch let error as ImportTakenOver {
            // Rows this run produced after the takeover carry the same event ids as
            // the new run's: the intake's dedupe keeps one of each.
            logger.warning("import stopped: another run took it over", metadata: ["herald.import": "\(id)", "herald.error": "\(error)"])
        } catch {
            logger.warning("import stopped", metadata: ["herald.import": "\(id)", "herald.error": "\(error)"])
            // A failure to record the failure leaves the job "running" with an old
            // heartbeat: a retry claims it as abandoned, which is what it is.
            try? await jobs.update(id, run: run, set: ["state": "failed", "error": "\(error)", "finished_at_ms": String(clock.now())])
        }
        // Batches not yet seen in the profiles no longer hold other imports back:
        // the consumers take them in order with whatever comes next.
        pacing.give(held)
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The batch `upcoming` prepares. When the file turns out bad midway (a row
    /// too long, bytes not in its encoding), the batches already produced are
    /// first `settle`d, so the job counts every row imported before the bad one.
    func next(_ upcoming: Task<Prepared?, any Error>, settling settle: () async throws -> Void) async throws -> Prepared? {
        do {
            return try await upcoming.value
        } catch let error as ImportError {
            try await settle()
            throw error
        }
    }

    /// Runs `step` again while it fails because Redis cannot be reached or cannot
    /// take writes (`DependencyFailure.isOutage`: a restart, a failover, a
    /// pause), for at most `outagePatience`: such an outage pauses an import, as
    /// it pauses the consumers, instead of failing it. Every step given is safe
    /// to repeat: reads, and job updates that set counts and add a batch's
    /// rejected rows once (`import_update.lua`).
    func riding<T: Sendable>(_ step: () async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + outagePatience
        var pause = Duration.milliseconds(100)
        var warned = false
        while true {
            do {
                return try await step()
            } catch let error as any DependencyFailure where error.isOutage && ContinuousClock.now < deadline {
                if !warned {
                    logger.warning("import waiting for Redis", metadata: ["herald.error": "\(error)"])
                    warned = true
                }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(2))
            }
        }
    }

    /// How long an import waits out a Redis outage before it fails (and can be
    /// resumed by running it again).
    var outagePatience = Duration.seconds(300)

    /// How often a running import's job records that it is alive: well inside
    /// `imports.stale_after` (`ImportsAPI` sets a third of it, at most 5 s).
    var heartbeatEvery = Duration.seconds(5)

    /// Batches handed to the producer and not yet acknowledged, at most: the
    /// acknowledgements of one take about as long as mapping the next.
    var batchesSending = 3

    /// Waits until each sentinel contact's profile changed after `producedAt`
    /// (each is the last contact of its partition in the batch, so in-order
    /// consumers have applied the batch there), for at most a minute: pacing,
    /// not correctness, so a contact changed by something else cannot stop it.
    func waitApplied(_ batch: (producedAt: Int64, sentinels: Set<String>)) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var waiting = batch.sentinels
        while !waiting.isEmpty && ContinuousClock.now < deadline {
            let profiles = try await riding { try await contacts.get(many: Array(waiting)) }
            waiting = waiting.filter { (profiles[$0]?.updatedAt ?? Int64.min) < batch.producedAt }
            if !waiting.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// The contact of each row: its `id` column when matching by id; else the
    /// contact that holds the row's email or phone now, or the row's `id`, or
    /// an id derived from the email or phone (`ImportMatch.derivedId`), so
    /// running the file again finds the same contacts. Also the profiles the
    /// lookup already read (by contact id), so they are not read twice.
    func contactIds(of rows: [ImportRows.Row], match: ImportMatch) async throws -> (ids: [String], profiles: [String: ContactProfile]) {
        guard match != .id else { return (rows.map { $0.contactId ?? "" }, [:]) }
        let field: ContactStore.LookupField = match == .email ? .email : .phone
        let found = try await contacts.find(field, rows.compactMap(\.matchKey))
        let ids = rows.map { row in
            let key = row.matchKey ?? ""
            return found[key]?.id ?? row.contactId ?? match.derivedId(key)
        }
        return (ids, Dictionary(found.values.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a }))
    }

    /// A batch read and looked up, ready to become events: its valid rows with
    /// their contacts, its rejected rows, and the profiles and campaigns as they were.
    struct Prepared: Sendable {
        var rows: Int
        var valid: [(row: ImportRows.Row, line: Int, contactId: String)]
        var errors: [ImportRows.RowError]
        var profiles: [String: ContactProfile]
        var announcements: ImportAnnouncements
    }

    /// Reads and looks up the next batch of `source`; nil at the end. Its round
    /// trips to Redis are what `run` overlaps with producing the batch before.
    func prepare(_ source: CSVSource, rows: ImportRows) async throws -> Prepared? {
        guard let batch = try await source.next() else { return nil }
        var valid: [ImportRows.Row] = []
        var lines: [Int] = []
        var errors: [ImportRows.RowError] = []
        for (cells, line) in batch {
            switch rows.read(cells, line: line) {
            case .row(let r):
                valid.append(r)
                lines.append(line)
            case .rejected(let e): errors += e
            }
        }
        let (ids, found) = try await riding { try await contactIds(of: valid, match: rows.match) }
        let unread = Array(Set(ids).subtracting(found.keys))
        let profiles = found.merging(try await riding { try await contacts.get(many: unread) }) { a, _ in a }
        let announcements = try await riding {
            try await catalog.refresh()
            return try await catalog.importAnnouncements()
        }
        return Prepared(
            rows: batch.count, valid: zip(zip(valid, lines), ids).map { ($0.0, $0.1, $1) }, errors: errors, profiles: profiles,
            announcements: announcements)
    }

    /// What the canonical form adds to a raw event at most: the receipt and
    /// event times (`Event.encoded`).
    static let canonicalOverhead = 128

    /// The events of one prepared batch, its rejected rows, and its counts.
    func events(for prepared: Prepared, mode: ImportMode) -> ([KafkaOutgoingRecord], [ImportRows.RowError], [String: Int]) {
        var errors = prepared.errors
        var counts = ["rejected": Set(errors.map(\.line)).count]
        var profiles = prepared.profiles
        let announcements = prepared.announcements
        var records: [KafkaOutgoingRecord] = []
        let now = clock.now()
        for (row, line, contactId) in prepared.valid {
            let before = profiles[contactId]
            switch (mode, before) {
            case (.onlyNew, _?), (.onlyExisting, nil):
                counts["skipped", default: 0] += 1
                continue
            default: break
            }
            // A row with nothing to set (only its id, the rest empty) changes
            // nothing and creates no contact: skipped, not counted as created.
            guard var fields = row.body.objectValue, !fields.isEmpty else {
                counts["skipped", default: 0] += 1
                continue
            }
            // The raw topic's form (as a bulk producer writes it), validated and
            // stamped on intake. Written from the fields' bytes, serialized once
            // for the id and the record: mapping rows is the importer's own CPU cost.
            // `source: import` as on the membership events below: the alerter
            // keeps no activity for it (docs/alerts.md).
            fields["source"] = .string("import")
            let properties = JSONValue.object(fields).serialized()
            let digest = Hashing.sha256(Array("\(contactId)\u{1F}contact_updated\u{1F}".utf8) + properties)
            var raw = Array(#"{"id":"import-"#.utf8) + Array(Hashing.hex(digest.prefix(16)).utf8)
            raw += Array(#"","type":"contact_updated","contact_id":"#.utf8) + JSONValue.string(contactId).serialized()
            raw += Array(#","properties":"#.utf8) + properties + [UInt8(ascii: "}")]
            // The intake would refuse it (to herald.dlq), or Kafka (the whole
            // import): the row is reported instead, as every refused row is.
            guard raw.count + Self.canonicalOverhead <= EventIntake.maxEventBytes else {
                errors.append(
                    ImportRows.RowError(
                        line: line, column: "", reason: "the row is \(raw.count) bytes as an event, over the \(EventIntake.maxEventBytes >> 10) KiB limit"))
                counts["rejected", default: 0] += 1
                continue
            }
            records.append(KafkaOutgoingRecord(topic: Topics.eventsRaw, key: contactId, value: raw))
            counts[before == nil ? "created" : "updated", default: 0] += 1
            // Events only for what a campaign reads (the profile change is in the record above).
            var membership = ContactChange()
            membership.addLists = row.change.addLists.filter(announcements.announces(list:))
            membership.addTags = row.change.addTags.filter(announcements.announces(tag:))
            if !membership.isEmpty {
                // Against the profile as stored, before this import's own rows: ids stay
                // the same when the import is resumed or run again.
                for e in membership.membershipEvents(before: before, contactId: contactId, now: now, source: "import") {
                    let raw: JSONValue = [
                        "id": .string(e.id), "type": .string(e.type), "contact_id": .string(e.contactId), "properties": .object(e.properties),
                    ]
                    records.append(KafkaOutgoingRecord(topic: Topics.eventsRaw, key: contactId, value: raw.serialized()))
                }
            }
            // A later row of the same contact in this file sees this one's lists and tags.
            var after = before ?? ContactProfile(id: contactId)
            after.lists.formUnion(row.change.addLists)
            after.tags.formUnion(row.change.addTags)
            profiles[contactId] = after
        }
        return (records, errors, counts)
    }
}
