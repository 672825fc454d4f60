import Foundation
import HeraldCore
import HeraldKafka
import HeraldRedis
import Hummingbird
import Logging
import NIOCore

/// `/v1/campaigns/...` (admin keys only):
///
/// | route | effect |
/// |---|---|
/// | `GET /v1/campaigns` | ids |
/// | `POST /v1/campaigns/validate` (YAML body) | 200 or 422 with `file:line: reason` |
/// | `PUT /v1/campaigns/{id}/draft` (YAML body) | validate and save the draft |
/// | `POST /v1/campaigns/{id}/publish?mode=drain\|now` (YAML body or none = the draft) | new version |
/// | `POST /v1/campaigns/{id}/rollback?version=N&mode=drain\|now` | republish version N as a new version |
/// | `POST /v1/campaigns/{id}/pause`, `/resume` | |
/// | `POST /v1/campaigns/{id}/stop?mode=drain\|now` | |
/// | `POST /v1/campaigns/{id}/test?contact=ID` | puts a test contact in (restarting it if inside); waits shortened to `scheduler.test_wait` |
/// | `GET /v1/campaigns/{id}/report` | entered, active, completed, exited by reason, runs per step, per version |
/// | `GET /v1/campaigns/{id}` | state, versions, draft; `?version=N` or `?yaml=published` for the YAML |
public struct CampaignsAPI: Sendable {
    let store: CampaignStore
    let journeys: JourneyStore
    let producer: KafkaProducer
    let maxBodyBytes: Int
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system

    /// The campaign routes over these stores; bodies over `maxBodyBytes` get 413.
    public init(store: CampaignStore, journeys: JourneyStore, producer: KafkaProducer, maxBodyBytes: Int, logger: Logger) {
        self.store = store
        self.journeys = journeys
        self.producer = producer
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    /// `router` is a group that requires the admin scope.
    public func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("v1/campaigns") { request, _ in
            await guarded(request) {
                APISupport.json(.ok, try KeyedPage(try await store.list(), key: { $0 }, request: request, json: JSONValue.string).json("campaigns"))
            }
        }
        router.post("v1/campaigns/validate") { request, _ in
            await guarded(request) {
                let yaml = try await text(request)
                do {
                    let c = try CampaignParser.parse(yaml, file: "request.yaml")
                    return APISupport.json(.ok, ["valid": true, "id": .string(c.id), "steps": .int(Int64(c.steps.count))])
                } catch let error as CampaignError {
                    return invalid(error)
                }
            }
        }
        router.put("v1/campaigns/:id/draft") { request, context in
            await guarded(request) {
                do {
                    let yaml = try await text(request), file = "\(context.parameters.get("id") ?? "").yaml"
                    // Checked before anything is saved: a draft under the wrong id
                    // would have replaced another campaign's draft.
                    let parsed = try CampaignParser.parse(yaml, file: file)
                    guard parsed.id == context.parameters.get("id") else {
                        return APISupport.problem(.badRequest, "the YAML's id is '\(parsed.id)', not the one in the URL; nothing was saved", field: "id")
                    }
                    let c = try await store.saveDraft(yaml, file: file)
                    return APISupport.json(.ok, ["id": .string(c.id), "draft": true])
                } catch let error as CampaignError {
                    return invalid(error)
                }
            }
        }
        router.post("v1/campaigns/:id/publish") { request, context in
            await guarded(request) {
                let id = context.parameters.get("id") ?? ""
                let body = try await text(request)
                do {
                    let v = try await store.publish(id: id, yaml: body.isEmpty ? nil : body, mode: try mode(request))
                    return APISupport.json(.ok, ["id": .string(id), "version": .int(Int64(v))])
                } catch let error as CampaignError {
                    return invalid(error)
                }
            }
        }
        router.post("v1/campaigns/:id/rollback") { request, context in
            await guarded(request) {
                guard let v = request.uri.queryParameters.get("version").flatMap({ Int($0) }) else {
                    return APISupport.problem(.badRequest, "version=N is required", field: "version")
                }
                let id = context.parameters.get("id") ?? ""
                let new = try await store.rollback(id: id, to: v, mode: try mode(request))
                return APISupport.json(.ok, ["id": .string(id), "version": .int(Int64(new)), "from_version": .int(Int64(v))])
            }
        }
        for (action, paused) in [("pause", true), ("resume", false)] {
            router.post("v1/campaigns/:id/\(action)") { request, context in
                await guarded(request) {
                    try await store.setPaused(id: context.parameters.get("id") ?? "", paused)
                    return APISupport.json(.ok, ["state": .string(paused ? "paused" : "active")])
                }
            }
        }
        router.post("v1/campaigns/:id/stop") { request, context in
            await guarded(request) {
                let m = try mode(request)
                try await store.stop(id: context.parameters.get("id") ?? "", mode: m)
                return APISupport.json(.ok, ["state": .string(m == .drain ? "draining" : "stopped")])
            }
        }
        router.post("v1/campaigns/:id/test") { request, context in
            await guarded(request) {
                let id = context.parameters.get("id") ?? ""
                guard let contact = request.uri.queryParameters.get("contact").map({ String($0) }), !contact.isEmpty else {
                    return APISupport.problem(.badRequest, "contact=ID is required", field: "contact")
                }
                guard let summary = try await store.show(id: id), summary.state == .active else {
                    throw CampaignStoreError("campaign '\(id)' is not active; publish it first")
                }
                let entryId = "\(id):test:\(clock.now())"
                let command = JourneyCommand.enter(campaignId: id, contactId: contact, id: entryId, isTest: true)
                _ = try await producer.send(topic: Topics.journeys, key: contact, value: command.encoded())
                return APISupport.json(.accepted, ["campaign_id": .string(id), "contact_id": .string(contact), "journey_id": .string(entryId), "test": true])
            }
        }
        router.get("v1/campaigns/:id/report") { request, context in
            await guarded(request) {
                let id = context.parameters.get("id") ?? ""
                guard try await store.show(id: id) != nil else { return APISupport.problem(.notFound, "no campaign '\(id)'") }
                return APISupport.json(.ok, try await journeys.report(campaign: id).json(campaignId: id))
            }
        }
        router.get("v1/campaigns/:id") { request, context in
            await guarded(request) {
                let id = context.parameters.get("id") ?? ""
                if let which = request.uri.queryParameters.get("version") ?? request.uri.queryParameters.get("yaml") {
                    guard let yaml = try await store.yaml(id: id, version: Int(which)) else {
                        return APISupport.problem(.notFound, "no such version of '\(id)'")
                    }
                    return Response(status: .ok, headers: [.contentType: "application/yaml"], body: ResponseBody(byteBuffer: ByteBuffer(string: yaml)))
                }
                guard let s = try await store.show(id: id) else { return APISupport.problem(.notFound, "no campaign '\(id)'") }
                return APISupport.json(
                    .ok,
                    [
                        "id": .string(s.id), "state": .string(s.state.rawValue), "published_version": s.publishedVersion.map { .int(Int64($0)) } ?? .null,
                        "versions": .array(s.versions.map { .int(Int64($0)) }), "has_draft": .bool(s.hasDraft),
                        "retired": .object(Dictionary(uniqueKeysWithValues: s.retired.map { (String($0.key), JSONValue.string($0.value.rawValue)) })),
                    ])
            }
        }
    }

    /// The handler; store refusals become 409, Redis trouble 503.
    func guarded(_ request: Request, _ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let error as CampaignStoreError {
            return APISupport.problem(.conflict, error.description)
        } catch let error as ResponseError {
            return error.response
        } catch let error as RedisError {
            logger.warning("campaigns API could not reach Redis", metadata: ["redis.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "the campaign store is unavailable; retry", headers: [.retryAfter: "1"])
        } catch {
            return APISupport.problem(.badRequest, "\(error)")
        }
    }

    func invalid(_ error: CampaignError) -> Response {
        APISupport.problem(
            .unprocessableContent, error.description, extra: ["valid": false, "line": .int(Int64(error.line)), "reason": .string(error.reason)])
    }

    func mode(_ request: Request) throws -> CampaignStore.RetireMode {
        let text = request.uri.queryParameters.get("mode") ?? "drain"
        guard let m = CampaignStore.RetireMode(rawValue: text) else {
            throw ResponseError(APISupport.problem(.badRequest, "mode must be drain or now, got '\(text)'", field: "mode"))
        }
        return m
    }

    func text(_ request: Request) async throws -> String {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: maxBodyBytes) else {
            throw ResponseError(APISupport.problem(.contentTooLarge, "request body is larger than \(maxBodyBytes) bytes"))
        }
        return String(buffer: buffer)
    }
}
