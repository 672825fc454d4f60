import HeraldCore
import HeraldRedis
import Hummingbird
import Logging
import NIOCore

/// `POST /v1/events`: one event or `{"events": [...]}`.
///
/// Answers, with a JSON body listing every event's outcome by index:
/// - 202 when every event was accepted or is a duplicate;
/// - 400 when any event is invalid (the valid ones in the same request *are*
///   accepted and listed as such, so a client may fix and resend only the bad ones,
///   or resend all: duplicates are harmless);
/// - 503 when any valid event could not be accepted now (retry; duplicates are harmless);
/// - 401 without a valid API key, 413 over the size limits, 415 for a non-JSON body.
public struct EventsAPI: Sendable {
    let intake: EventIntake
    let validator = EventValidator()
    let maxBodyBytes: Int
    let maxBatchEvents: Int
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system

    /// `POST /v1/events` over `intake`, with these limits.
    public init(intake: EventIntake, maxBodyBytes: Int, maxBatchEvents: Int, logger: Logger) {
        self.intake = intake
        self.maxBodyBytes = maxBodyBytes
        self.maxBatchEvents = maxBatchEvents
        self.logger = logger
    }

    /// Adds the route to `router` (a group that requires the ingest scope).
    public func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.post("v1/events") { request, _ -> Response in
            await handle(request)
        }
    }

    func handle(_ request: Request) async -> Response {
        if let refusal = APISupport.refuseNonJSON(request) { return refusal }
        let document: JSONValue
        switch await APISupport.jsonBody(request, maxBytes: maxBodyBytes) {
        case .success(let d): document = d
        case .failure(let refusal): return refusal.response
        }
        // A batch is an object whose only member is "events".
        let items: [JSONValue]
        let isBatch: Bool
        if let o = document.objectValue, let events = o["events"], o.count == 1 {
            guard case .array(let list) = events else {
                return APISupport.problem(.badRequest, "events: must be an array of events", field: "events")
            }
            guard !list.isEmpty else { return APISupport.problem(.badRequest, "events: must not be empty", field: "events") }
            guard list.count <= maxBatchEvents else {
                return APISupport.problem(.contentTooLarge, "events: at most \(maxBatchEvents) events per request, got \(list.count)", field: "events")
            }
            items = list
            isBatch = true
        } else {
            items = [document]
            isBatch = false
        }
        let now = clock.now()
        var results = [JSONValue?](repeating: nil, count: items.count)
        var valid: [(Int, Event)] = []
        for (i, item) in items.enumerated() {
            do {
                valid.append((i, try validator.validate(item, receivedAt: now)))
            } catch {
                var r: [String: JSONValue] = [
                    "index": .int(Int64(i)), "status": "rejected", "field": .string(error.field), "error": .string(error.description),
                ]
                if let id = item["id"]?.stringValue { r["id"] = .string(id) }
                results[i] = .object(r)
            }
        }
        var anyRetry = false, anyTooLarge = false
        if !valid.isEmpty {
            let outcomes: [IntakeOutcome]
            do {
                outcomes = try await intake.accept(valid.map(\.1))
            } catch {
                logger.warning("ingest dedupe store unavailable", metadata: ["redis.error": "\(error)"])
                outcomes = valid.map { _ in .retry("the dedupe store is unavailable: \(error)") }
            }
            for ((i, event), outcome) in zip(valid, outcomes) {
                var r: [String: JSONValue] = ["index": .int(Int64(i)), "id": .string(event.id)]
                switch outcome {
                case .accepted: r["status"] = "accepted"
                case .duplicate: r["status"] = "duplicate"
                case .retry(let why):
                    r["status"] = "retry"
                    r["error"] = .string(why)
                    anyRetry = true
                case .tooLarge(let bytes):
                    r["status"] = "rejected"
                    r["field"] = "properties"
                    r["error"] = .string(Self.tooLargeMessage(bytes))
                    anyTooLarge = true
                }
                results[i] = .object(r)
            }
        }
        let list = results.map { $0 ?? .null }
        func count(_ status: String) -> Int64 { Int64(list.filter { $0["status"]?.stringValue == status }.count) }
        let rejected = count("rejected")
        let status: HTTPResponse.Status = anyTooLarge && !isBatch ? .contentTooLarge : rejected > 0 ? .badRequest : anyRetry ? .serviceUnavailable : .accepted
        let summary: [String: JSONValue] = [
            "accepted": .int(count("accepted")), "duplicates": .int(count("duplicate")),
            "rejected": .int(rejected), "retry": .int(count("retry")), "results": .array(list),
        ]
        let headers: HTTPFields = anyRetry ? [.retryAfter: "1"] : [:]
        guard status != .accepted else { return APISupport.json(status, .object(summary), headers: headers) }
        // A refusal is a problem document like every other; the per-event results ride along.
        let only = isBatch ? nil : list.first?.objectValue
        let detail =
            only?["error"]?.stringValue
            ?? (rejected > 0 ? "\(rejected) of \(list.count) events were rejected; see results" : "\(count("retry")) of \(list.count) events must be retried")
        return APISupport.problem(status, detail, field: only?["field"]?.stringValue, extra: summary, headers: headers)
    }

    /// Why an event over `EventIntake.maxEventBytes` is refused.
    static func tooLargeMessage(_ bytes: Int) -> String {
        "the event is \(bytes) bytes once written, more than the limit of \(EventIntake.maxEventBytes) (records derived from it must stay producible)"
    }
}
