import Foundation
import HeraldCore
import HeraldRedis
import Hummingbird
import Logging

/// Alert rules over HTTP (admin key). Bodies are YAML or JSON (docs/alerts.md).
///
/// | route | |
/// |---|---|
/// | `GET /v1/alerts` | every rule with its summary |
/// | `POST /v1/alerts/validate` | checks a rule; answers its summary — nothing is saved |
/// | `POST /v1/alerts` | creates a rule (409 if the id exists) |
/// | `GET /v1/alerts/{id}` | the rule and its summary |
/// | `PUT /v1/alerts/{id}` | creates or replaces it |
/// | `POST /v1/alerts/{id}/enable`, `/disable` | the ON/OFF switch |
/// | `DELETE /v1/alerts/{id}` | deletes it |
/// | `GET /v1/alerts/{id}/stats?days=N` | per local day: matched, sent, suppressed, too_short |
///
/// An invalid rule answers 422 with `field` and `reason`.
struct AlertsAPI: Sendable {
    let store: AlertStore
    let maxBodyBytes: Int
    let logger: Logger
    /// The wall clock (injected; `.system` in production).
    var clock = WallClock.system

    /// `router` is a group that requires the admin scope.
    func addRoutes(to router: some RouterMethods<BasicRequestContext>) {
        router.get("v1/alerts") { request, _ in
            await guarded(request) {
                APISupport.json(.ok, try KeyedPage(try await store.rules(), key: \.id, request: request, json: describe).json("alerts"))
            }
        }
        router.post("v1/alerts/validate") { request, _ in
            await guarded(request) {
                let rule = try await parse(request, id: nil)
                return APISupport.json(.ok, ["valid": true, "summary": .string(rule.summary), "rule": rule.json])
            }
        }
        router.post("v1/alerts") { request, _ in
            await guarded(request) {
                let rule = try await parse(request, id: nil)
                guard try await store.rule(rule.id) == nil else {
                    return APISupport.problem(.conflict, "an alert rule '\(rule.id)' exists; PUT /v1/alerts/\(rule.id) replaces it", field: "id")
                }
                try await store.put(rule)
                return APISupport.json(.created, describe(rule))
            }
        }
        router.get("v1/alerts/:id") { request, context in
            await guarded(request) {
                let rule = try await existing(context)
                return APISupport.json(.ok, describe(rule))
            }
        }
        router.put("v1/alerts/:id") { request, context in
            await guarded(request) {
                let rule = try await parse(request, id: context.parameters.get("id") ?? "")
                let replaced = try await store.put(rule)
                return APISupport.json(replaced ? .ok : .created, describe(rule))
            }
        }
        for (action, on) in [("enable", true), ("disable", false)] {
            router.post("v1/alerts/:id/\(action)") { request, context in
                await guarded(request) {
                    var rule = try await existing(context)
                    rule.enabled = on
                    try await store.put(rule)
                    return APISupport.json(.ok, describe(rule))
                }
            }
        }
        router.delete("v1/alerts/:id") { request, context in
            await guarded(request) {
                let id = context.parameters.get("id") ?? ""
                guard try await store.delete(id) else { return APISupport.problem(.notFound, "no alert rule '\(id)'") }
                return APISupport.json(.ok, ["deleted": .string(id)])
            }
        }
        router.get("v1/alerts/:id/stats") { request, context in
            await guarded(request) {
                let rule = try await existing(context)
                let daysText = request.uri.queryParameters.get("days") ?? "7"
                guard let n = Int(daysText), (1...366).contains(n) else {
                    return APISupport.problem(.badRequest, "days must be 1-366, got '\(daysText)'", field: "days")
                }
                let days = Self.localDays(count: n, endingAt: clock.now(), timeZone: rule.timeZone)
                let rows = try await store.stats(ruleId: rule.id, days: days)
                var total: [String: Int64] = [:]
                let list: [JSONValue] = rows.map { row in
                    var o: [String: JSONValue] = ["day": .string(row.day)]
                    for (c, v) in row.counts {
                        o[c.rawValue] = .int(v)
                        total[c.rawValue, default: 0] += v
                    }
                    return .object(o)
                }
                return APISupport.json(
                    .ok,
                    [
                        "id": .string(rule.id), "time_zone": .string(rule.timeZone), "days": .array(list),
                        "total": .object(total.mapValues { .int($0) }),
                    ])
            }
        }
    }

    /// The last `count` local dates up to the one containing `endingAt`, oldest first.
    static func localDays(count: Int, endingAt: Int64, timeZone: String) -> [String] {
        var days: [String] = []
        var t = endingAt
        for _ in 0..<count {
            let (key, _) = AlertPeriod.day.containing(t, timeZone: timeZone)
            days.append(key)
            // Noon of the previous local day is safely inside it, whatever DST does.
            t -= 86_400_000
        }
        return Array(Set(days)).sorted().suffix(count)
    }

    func describe(_ rule: AlertRule) -> JSONValue {
        ["id": .string(rule.id), "name": .string(rule.name), "enabled": .bool(rule.enabled), "summary": .string(rule.summary), "rule": rule.json]
    }

    func existing(_ context: BasicRequestContext) async throws -> AlertRule {
        let id = context.parameters.get("id") ?? ""
        guard let rule = try await store.rule(id) else { throw ResponseError(APISupport.problem(.notFound, "no alert rule '\(id)'")) }
        return rule
    }

    /// Reads the body as a rule; `id` from the URL fills a missing one and must match a given one.
    func parse(_ request: Request, id: String?) async throws -> AlertRule {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: maxBodyBytes) else {
            throw ResponseError(APISupport.problem(.contentTooLarge, "request body is larger than \(maxBodyBytes) bytes"))
        }
        do {
            var json = try YAMLValue.parse(String(buffer: buffer))
            if let id, case .object(var o) = json {
                if let given = o["id"]?.stringValue, given != id {
                    throw AlertRuleError(field: "id", reason: "the body's id is '\(given)', not '\(id)' as in the URL")
                }
                o["id"] = .string(id)
                json = .object(o)
            }
            return try AlertRule(json: json)
        } catch let error as AlertRuleError {
            throw ResponseError(
                APISupport.problem(
                    .unprocessableContent, error.description, field: error.field, extra: ["valid": false, "reason": .string(error.reason)]))
        }
    }

    func guarded(_ request: Request, _ body: () async throws -> Response) async -> Response {
        do {
            return try await body()
        } catch let error as ResponseError {
            return error.response
        } catch let error as RedisError {
            logger.warning("alerts API could not reach Redis", metadata: ["redis.error": "\(error)"])
            return APISupport.problem(.serviceUnavailable, "the alert store is unavailable; retry", headers: [.retryAfter: "1"])
        } catch {
            return APISupport.problem(.badRequest, "\(error)")
        }
    }
}
