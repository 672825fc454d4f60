// libFuzzer harness for the parsers that take outside input: Herald's
// hand-written readers and writers of JSON and of the small text formats
// around it, campaigns (parsed and then run through the journey engine on a
// manual clock) and alert rules in YAML (run as the alerter runs them, on a
// manual clock), page addresses, tracking-link rewriting, provider status
// webhooks and Mustache templates. Built and run by
// `scripts/fuzz`, which adds it as a target to a copy of the package: it is not
// part of the main package, whose build has no libFuzzer.
//
// Most checks are differential: the fast member-by-member readers and
// byte writers must agree with the dictionary forms they replaced, and what is
// written must read back. A disagreement or a trap is a finding.
import HeraldCore
import Mustache

#if canImport(Glibc)
    import Glibc
#endif

/// The families of checks, chosen by `HERALD_FUZZ_FAMILY` (comma-separated; all
/// when unset). Running one family alone lets its corpus and coverage grow for
/// that family's code only, so a run can tell when that family stops finding
/// anything new (docs/fuzzing.md).
enum Family: String, CaseIterable {
    case json, campaigns, alerts, pages, tracking, webhooks, mustache, addressbook
}

let families: Set<Family> = {
    guard let raw = getenv("HERALD_FUZZ_FAMILY").map({ String(cString: $0) }), !raw.isEmpty, raw != "all" else { return Set(Family.allCases) }
    let chosen = raw.split(separator: ",").map { Family(rawValue: String($0)) }
    guard chosen.allSatisfy({ $0 != nil }) else {
        fatalError("HERALD_FUZZ_FAMILY: expected all or some of \(Family.allCases.map(\.rawValue).joined(separator: ",")), got \(raw)")
    }
    return Set(chosen.compactMap { $0 })
}()

/// libFuzzer's entry point: runs the chosen families' checks on one input; a failed check stops the process.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    let parsed = try? JSONValue.parse(bytes)
    if families.contains(.json) { fuzzJSON(bytes, text, parsed) }
    // Campaigns and alert rules (YAML through libyaml, then Herald's checks):
    // refused with a reason, never a trap. A campaign that parses is also run:
    // entered and woken on a manual clock until it ends, so a value that passes
    // validation cannot trap at run time; an alert rule runs as the alerter runs it.
    if families.contains(.campaigns), let campaign = try? CampaignParser.parse(text, file: "fuzz.yaml") { runJourney(campaign) }
    if families.contains(.alerts), let rule = try? YAMLValue.parse(text), let parsed = try? AlertRule(json: rule) { runAlertRule(parsed, page: PageURL(text)) }
    if families.contains(.pages) { fuzzPages(text) }
    if families.contains(.tracking) { fuzzTracking(text) }
    if families.contains(.webhooks) { fuzzWebhooks(text, parsed) }
    // Mustache templates compile or are refused, never trap.
    if families.contains(.mustache), let template = try? MustacheTemplate(string: text) { _ = template.render(["first_name": "Ada"]) }
    if families.contains(.addressbook) { fuzzAddressBook(text, parsed) }
    return 0
}

/// JSON and the small text formats: the fast readers and writers agree with the
/// dictionary forms, and round trips hold.
func fuzzJSON(_ bytes: [UInt8], _ text: String, _ parsed: JSONValue?) {
    // What parses serializes to a document that parses to the same value.
    if let v = parsed, (try? JSONValue.parse(v.serialized())) != v { fail("JSON round trip", text) }
    // A path read agrees with subscripts (the sender reads Meta's answer so).
    if let v = parsed, let id = JSONValue.string(at: ["messages", 0, "id"], in: bytes),
        v["messages"]?.arrayValue?.first?["id"]?.stringValue != id
    {
        fail("path read", text)
    }
    // `herald.sends` records: field by field, the same request or the same refusal.
    let fast = try? SendRequest(decoding: bytes)
    if fast != parsed.flatMap({ try? SendRequest(json: $0) }) { fail("SendRequest(decoding:)", text) }
    // Stored profiles: member by member, the same profile.
    if (try? ContactProfile(decoding: bytes)) != parsed.flatMap({ try? ContactProfile(stored: $0) }) { fail("ContactProfile(decoding:)", text) }
    // Stored profiles merged as the store merges them: no trap, the result
    // reads back as the contact's, and a replay changes nothing more.
    if let stored = try? StoredProfile(decoding: bytes, id: "c-1") {
        for replace in [false, true] {
            var change = parsed.flatMap { try? ContactInput.change(fromBody: $0, replace: replace) } ?? ContactChange()
            change.activity = (["email_opened", "email_opened|campaign:c"], 1_795_500_000_000, 7)
            change.note = ("n-1", "a note", 1_795_500_000_000)
            var once = stored
            once.apply(change, contactId: "c-1", now: 1_795_500_000_001)
            var twice = once
            twice.apply(change, contactId: "c-1", now: 1_795_500_000_001)
            if once != twice { fail("StoredProfile replay", text) }
            if (try? ContactProfile(decoding: once.serialized()))?.id != "c-1" { fail("StoredProfile merge reads back", text) }
        }
    }
    // Events: both writers give the same bytes, which read back as the event.
    if let v = parsed, let e = try? EventValidator().validate(v, receivedAt: 1_795_500_000_000) {
        let written = e.encoded()
        if written != e.json.serialized() || (try? Event(decoding: written)) != e { fail("event writers", text) }
    }
    // Every record: what reads, written again, reads back the same.
    roundTrip(Event.self, bytes, text)
    roundTrip(JourneyCommand.self, bytes, text)
    roundTrip(SendRequest.self, bytes, text)
    roundTrip(PageVisit.self, bytes, text)
    roundTrip(JourneyInstance.self, bytes, text)
    // Contact bodies, forms, references and times: no trap, and round trips hold.
    if let v = parsed { _ = try? ContactInput.change(fromBody: v, replace: false) }
    _ = URLEncoding.parseForm(text)
    if let r = MessageReference(text: text), MessageReference(text: r.text) != r { fail("MessageReference round trip", text) }
    if let ms = RFC3339.parseMilliseconds(text), RFC3339.parseMilliseconds(RFC3339.format(milliseconds: ms)) != ms { fail("RFC 3339 round trip", text) }
}

/// Page addresses: what parses describes itself as a page that parses the same.
func fuzzPages(_ text: String) {
    if let page = PageURL(text), let again = PageURL(page.description), again.host != page.host { fail("PageURL round trip", text) }
    _ = PagePattern(text)
}

/// Tracking-link rewriting: every http link is rewritten and the pixel added once.
func fuzzTracking(_ text: String) {
    let instrumented = EmailTracking.instrument(html: text, base: "https://t.example", secret: "s", contactId: "c", messageId: "m")
    if instrumented.components(separatedBy: "/v1/t/o?").count - text.components(separatedBy: "/v1/t/o?").count != 1 { fail("tracking pixel", text) }
}

/// Provider status webhooks (WhatsApp JSON, Twilio forms): read or skipped, never a trap;
/// a status names a state or nothing, and a reference it carries reads back.
func fuzzWebhooks(_ text: String, _ parsed: JSONValue?) {
    if let v = parsed {
        for update in ProviderStatus.whatsAppTemplateUpdates(v) { _ = (update.stopsSending, update.description) }
        for status in ProviderStatus.whatsApp(v) where status.reference.map({ MessageReference(text: $0.text) != $0 }) == true {
            fail("WhatsApp status reference", text)
        }
    }
    if let status = ProviderStatus.twilio(form: URLEncoding.parseForm(text), query: text) { _ = status.state }
    _ = TwilioSignature.matches(text, url: "https://h.example/v1/status/twilio?\(text)", parameters: URLEncoding.parseForm(text), authToken: "t")
}

/// What the address book, imports and broadcasts read from requests: filters
/// (decided on profiles at ordinary and extreme times), cursors, import mappings
/// and rows, phone numbers, broadcasts and their audiences. Refused with a
/// reason, never a trap; what is written reads back the same.
func fuzzAddressBook(_ text: String, _ parsed: JSONValue?) {
    if let filter = try? ContactFilter(list: nil, tag: nil, where: text) {
        let stored: JSONValue = [
            "id": "c-1", "email": "ada@example.com", "attributes": ["city": "Praha", "birthday": "1990-12-07", "score": 7],
            "tags": ["vip": true], "lists": ["newsletter": true], "purchases": ["p1": 1_795_000_000_000],
            "activity": ["email_opened": [[1_795_400_000_000, 0]]],
        ]
        for profile in [try? ContactProfile(stored: stored), try? ContactProfile(stored: ["id": "c-2"])].compactMap({ $0 }) {
            for now in [Int64(1_795_500_000_000), Int64.max - 1, Int64.min + 1] { _ = filter.matches(profile, now: now) }
        }
    }
    if let cursor = try? AddressBookCursor(text: text, partitions: 24), (try? AddressBookCursor(text: cursor.text, partitions: 24)) != cursor {
        fail("AddressBookCursor round trip", text)
    }
    if let mapping = try? ImportMapping(text) {
        let header = mapping.columns.map(\.header)
        for match in [ImportMatch.id, .email, .phone] {
            guard let rows = try? ImportRows(mapping: mapping, header: header, lists: ["l"], defaultCountry: "+420", match: match) else { continue }
            _ = rows.read(header, line: 2)
            _ = rows.read(text.split(separator: ",", omittingEmptySubsequences: false).map(String.init), line: 3)
        }
    }
    for country in [nil, "+420", "+1"] {
        if let phone = PhoneNumber.e164(text, defaultCountry: country), PhoneNumber.e164(phone, defaultCountry: country) != phone {
            fail("PhoneNumber.e164 is not idempotent", text)
        }
    }
    if let v = parsed {
        _ = try? Broadcast.Audience(json: v)
        let now: Int64 = 1_795_500_000_000
        if let b = try? Broadcast(json: v, now: now), (try? Broadcast(json: b.json, now: now)) != b { fail("Broadcast round trip", text) }
    }
}

/// Enters a journey and wakes it at each wait's due time (at most 50 times).
func runJourney(_ campaign: Campaign) {
    let engine = JourneyEngine(campaign: campaign, version: 1)
    // Activity and purchase amounts at ordinary and extreme times, so their conditions are decided on something.
    let contact = ContactSnapshot(
        id: "c-1", attributes: ["first_name": .string("Ada")], tags: ["vip"], lists: [campaign.list], purchases: [Int64.min, 1_795_000_000_000],
        purchaseTotals: [.init(at: 1_795_000_000_000, total: 1e15), .init(at: Int64.min, total: -1e15)], olderPurchaseTotal: 1e15,
        activity: ["page_visited": [Int64.min, 1_795_400_000_000, Int64.max], "email_opened|campaign:x": [1_795_499_000_000]])
    for start in [Int64(1_795_500_000_000), Int64.max - 1000] {
        var t = engine.enter(id: "j-1", contact: contact, triggerEvent: ["total": .int(10)], now: start)
        for _ in 0..<50 {
            guard case .waiting(let until) = t.instance.status else { break }
            t = engine.wakeUp(t.instance, contact: contact, now: until)
        }
    }
}

/// Runs an alert rule as the alerter does, on a manual clock: matched against
/// its own patterns and the input as a page, a visit decided at ordinary and
/// extreme times, and its period computed at both.
func runAlertRule(_ rule: AlertRule, page: PageURL?) {
    let index = AlertRuleIndex(rules: [rule])
    for watched in rule.pages { _ = page.map(watched.pattern.matches) }
    let matches = page.map(index.matches) ?? []
    for at in [Int64(1_795_500_000_000), Int64.max - 1, Int64.min + 1] {
        let waiting = Dictionary(matches.map { ($0.rule.id, $0.minTimeMs) }, uniquingKeysWith: max)
        let visit = PageVisit(eventId: "e", url: page?.description ?? "https://shop.example/", at: at, session: "s", acceptedAt: at, waiting: waiting)
        for end in [
            PageVisit.End.left(at: at.addingClamped(rule.pages.first?.minTimeMs ?? 0)), .nextView(at: .max, session: "s"), .nextView(at: .min, session: nil),
            .timeout,
        ] {
            let decided = visit.decide(end, sessionTimeoutMs: 30 * 60 * 1000)
            if decided.reached.count + decided.tooShort.count != waiting.count { fail("alert visit decision", "\(rule.id)") }
        }
        _ = AlertPeriod.localDay(at, timeZone: rule.timeZone)
        _ = rule.frequency.per.containing(at, timeZone: rule.timeZone)
        if (try? PageVisit(decoding: visit.encoded())) != visit { fail("PageVisit round trip", "\(rule.id)") }
    }
}

/// A record that reads from `bytes` must read back the same from its own bytes.
func roundTrip<R: WireRecord & Equatable>(_: R.Type, _ bytes: [UInt8], _ text: String) {
    if let r = try? R(decoding: bytes), (try? R(decoding: r.encoded())) != r { fail("\(R.self) round trip", text) }
}

func fail(_ check: String, _ input: String) -> Never {
    fatalError("\(check) disagrees on input: \(input)")
}

// SwiftPM links an executable's entry point as `<target>_main`: hand over to
// libFuzzer's own driver, which reads the command line as libFuzzer does.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("FuzzJSON_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { data, size in fuzzOne(data, size) }
}
