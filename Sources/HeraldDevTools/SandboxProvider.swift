import Foundation
import HeraldChannels
import HeraldCore
import HeraldService
import Hummingbird
import Logging
import Synchronization

/// `heraldctl sandbox`: a local stand-in for the WhatsApp Business Cloud API and
/// Twilio's Messages API, speaking their wire formats, so the whole flow runs
/// offline. It can be told to reject numbers, throttle the first requests or
/// answer slowly.
///
/// - `POST /{version}/{phone-number-id}/messages` (WhatsApp, Bearer token):
///   `{"messages":[{"id":"wamid…"}]}`, or an error object with Meta's codes.
/// - `POST /2010-04-01/Accounts/{sid}/Messages.json` (Twilio, Basic auth, form):
///   201 with `{"sid":"SM…","status":"queued"}`, or `{"code":…,"message":…}`.
/// - `GET /sandbox/requests`: every request received (for tests and curious people).
public struct SandboxProvider: Sendable {
    /// `heraldctl sandbox --port` (its `--help` says what it does).
    public var port: Int = 8090
    /// `heraldctl sandbox --reject` (its `--help` says what it does).
    public var reject: [String] = []
    /// `heraldctl sandbox --throttle-first` (its `--help` says what it does).
    public var throttleFirst: Int = 0
    /// `heraldctl sandbox --port-file` (its `--help` says what it does).
    public var portFile: String?
    /// `heraldctl sandbox --whatsapp-callback` (its `--help` says what it does).
    public var whatsappCallback: String?
    /// `heraldctl sandbox --app-secret` (its `--help` says what it does).
    public var appSecret: String = ""
    /// `heraldctl sandbox --answer-delay` (its `--help` says what it does).
    public var answerDelay: Int = 0
    /// `heraldctl sandbox --marketing-limited` (its `--help` says what it does).
    public var marketingLimited: [String] = []
    /// `heraldctl sandbox --spam-limit-after` (its `--help` says what it does).
    public var spamLimitAfter: Int = 0
    /// `heraldctl sandbox --messaging-limit` (its `--help` says what it does).
    public var messagingLimit = "TIER_2K"

    /// Options as `heraldctl` parsed them; the defaults are the flags'.
    public init(
        port: Int = 8090, reject: [String] = [], throttleFirst: Int = 0, portFile: String? = nil, whatsappCallback: String? = nil, appSecret: String = "",
        answerDelay: Int = 0, marketingLimited: [String] = [], spamLimitAfter: Int = 0, messagingLimit: String = "TIER_2K"
    ) {
        self.messagingLimit = messagingLimit
        self.marketingLimited = marketingLimited
        self.spamLimitAfter = spamLimitAfter
        self.port = port
        self.reject = reject
        self.throttleFirst = throttleFirst
        self.portFile = portFile
        self.whatsappCallback = whatsappCallback
        self.appSecret = appSecret
        self.answerDelay = answerDelay
    }

    /// Serves until the process is stopped.
    public func run() async throws {
        var logger = Logger(label: "heraldctl.sandbox")
        logger.logLevel = .warning
        let state = SandboxState(reject: Set(reject), throttleFirst: throttleFirst, marketingLimited: Set(marketingLimited), spamLimitAfter: spamLimitAfter)
        let router = Router()
        router.post(":version/:phone/messages") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let json = (try? JSONValue.parse(Array(buffer: body))) ?? .null
            state.record(["api": "whatsapp", "path": .string(request.uri.path), "authorization": .string(request.headers[.authorization] ?? ""), "body": json])
            guard request.headers[.authorization]?.hasPrefix("Bearer ") == true else {
                return Self.whatsAppError(401, code: 190, "Invalid OAuth access token")
            }
            let to = json["to"]?.stringValue ?? ""
            if state.throttle("whatsapp") { return Self.whatsAppError(400, code: 130429, "Rate limit hit") }
            if state.rejects(to) { return Self.whatsAppError(400, code: 131026, "Message undeliverable") }
            // Meta's 2025 limits: the number's spam rate limit once it sent its share,
            // and the per-user marketing limit for the numbers told.
            if state.spamLimited(phoneNumberId: context.parameters.get("phone") ?? "") {
                return Self.whatsAppError(400, code: 131048, "Spam rate limit hit")
            }
            if state.marketingLimited(to) {
                return Self.whatsAppError(400, code: 131049, "This message was not delivered to maintain healthy ecosystem engagement.")
            }
            guard json["type"] == "template", json["template"]?["name"]?.stringValue != nil else {
                return Self.whatsAppError(400, code: 132000, "Number of parameters does not match the expected number of params")
            }
            let id = "wamid.\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))"
            if let callback = whatsappCallback {
                Self.whatsAppStatuses(id: id, to: to, opaque: json["biz_opaque_callback_data"]?.stringValue, callback: callback, secret: appSecret)
            }
            try await Self.pause(answerDelay)
            return Self.json(
                200,
                [
                    "messaging_product": "whatsapp", "contacts": [["input": .string(to), "wa_id": .string(to.filter(\.isNumber))]],
                    "messages": [["id": .string(id)]],
                ])
        }
        router.post("2010-04-01/Accounts/:sid/Messages.json") { request, context -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let form = URLEncoding.parseForm(String(buffer: body))
            state.record([
                "api": "twilio", "path": .string(request.uri.path), "authorization": .string(request.headers[.authorization] ?? ""),
                "form": .object(form.mapValues(JSONValue.string)),
            ])
            guard request.headers[.authorization]?.hasPrefix("Basic ") == true else {
                return Self.json(401, ["code": 20003, "message": "Authenticate", "status": 401])
            }
            if state.throttle("twilio") { return Self.json(429, ["code": 20429, "message": "Too Many Requests", "status": 429]) }
            let to = form["To"] ?? ""
            if state.rejects(to) || !ContactInput.isE164(to) {
                return Self.json(400, ["code": 21211, "message": "The 'To' number \(to) is not a valid phone number.", "status": 400])
            }
            let sid = "SM" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            if let callback = form["StatusCallback"] {
                Self.twilioStatuses(sid: sid, callback: callback, authToken: Self.basicPassword(request.headers[.authorization]))
            }
            try await Self.pause(answerDelay)
            return Self.json(
                201, ["sid": .string(sid), "status": "queued", "to": .string(to), "from": .string(form["From"] ?? ""), "body": .string(form["Body"] ?? "")])
        }
        // The template catalogue, in two pages (clients must follow `paging.next`).
        // (The second segment is the WhatsApp Business Account id; the router needs
        // one parameter name per position.)
        router.get(":version/:phone/message_templates") { request, _ -> Response in
            guard request.headers[.authorization]?.hasPrefix("Bearer ") == true else { return Self.whatsAppError(401, code: 190, "Invalid OAuth access token") }
            let page = request.uri.queryParameters.get("after") == "page2" ? 1 : 0
            let all: [JSONValue] = [
                Self.template(
                    "order-update", "en", state.templateStatus("order-update|en") ?? "APPROVED", "UTILITY", "Hello {{1}}, your order {{2}} is on its way."),
                Self.template("spring-sale", "en", state.templateStatus("spring-sale|en") ?? "PAUSED", "MARKETING", "Hi {{1}}, spring sale: {{2}} off."),
                Self.template("old-promo", "en", "DISABLED", "MARKETING", "Old offer for {{1}}."),
                Self.template("bad-copy", "en", "REJECTED", "MARKETING", "Buy now {{1}}!"),
                Self.template(
                    "order-update", "cs", state.templateStatus("order-update|cs") ?? "APPROVED", "UTILITY",
                    "Dobrý den {{1}}, vaše objednávka {{2}} je na cestě."),
            ]
            let slice = page == 0 ? Array(all.prefix(3)) : Array(all.dropFirst(3))
            var body: [String: JSONValue] = ["data": .array(slice)]
            if page == 0 {
                let next = "http://\(request.head.authority ?? "127.0.0.1")\(request.uri.path)?after=page2"
                body["paging"] = ["cursors": ["after": "page2"], "next": .string(next)]
            }
            return Self.json(200, .object(body))
        }
        // The phone number's portfolio messaging limit, as the Graph API answers `?fields=whatsapp_business_manager_messaging_limit`.
        let messagingLimit = messagingLimit
        router.get(":version/:phone") { request, context -> Response in
            guard request.headers[.authorization]?.hasPrefix("Bearer ") == true else { return Self.whatsAppError(401, code: 190, "Invalid OAuth access token") }
            return Self.json(
                200, ["id": .string(context.parameters.get("phone") ?? ""), "whatsapp_business_manager_messaging_limit": .string(messagingLimit)])
        }
        router.get("sandbox/requests") { _, _ -> Response in Self.json(200, ["requests": .array(state.requests)]) }
        // As WhatsApp Manager does when Meta pauses or disables a template: the
        // catalogue changes and a signed `message_template_status_update` goes out.
        router.post("sandbox/templates/:name/:language/status") { request, context -> Response in
            let name = context.parameters.get("name") ?? "", language = context.parameters.get("language") ?? ""
            let event = request.uri.queryParameters.get("event").map { String($0) } ?? "PAUSED"
            let reason = request.uri.queryParameters.get("reason").map { String($0) } ?? "NONE"
            state.setTemplateStatus("\(name)|\(language)", event)
            guard let callback = whatsappCallback else { return Self.json(200, ["webhook": false]) }
            let body: JSONValue = [
                "object": "whatsapp_business_account",
                "entry": [
                    [
                        "id": "sandbox-waba", "time": .int(nowMilliseconds() / 1000),
                        "changes": [
                            [
                                "field": "message_template_status_update",
                                "value": [
                                    "event": .string(event), "message_template_id": 1, "message_template_name": .string(name),
                                    "message_template_language": .string(language), "reason": .string(reason),
                                ],
                            ]
                        ],
                    ]
                ],
            ]
            let bytes = body.serialized()
            let signature = "sha256=" + Hashing.hex(Hashing.hmacSHA256(key: Array(appSecret.utf8), message: bytes))
            let answer = try? await HTTPClient(concurrency: 1).postJSON(callback, bytes, headers: [("X-Hub-Signature-256", signature)])
            return Self.json(200, ["webhook": true, "status": .int(Int64(answer?.status ?? 0))])
        }
        let portFile = portFile
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "herald-sandbox"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? 0
                print("sandbox provider listening on http://127.0.0.1:\(bound)")
                fflush(nil)
                if let portFile { try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
            },
            logger: logger)
        try await app.runService()
    }

    /// `--answer-delay`: the message is already taken (and its statuses on their
    /// way) while the client waits, so a client that dies now leaves a message the
    /// provider has, and no answer — the window `killMidCallProviders` measures.
    static func pause(_ milliseconds: Int) async throws {
        if milliseconds > 0 { try await Task.sleep(for: .milliseconds(milliseconds)) }
    }

    /// sent, delivered, read — then `delivered` again, late: a real provider may
    /// redeliver or reorder, and Herald must not move backwards. Each carries the
    /// message's `biz_opaque_callback_data`, as Meta's do.
    static func whatsAppStatuses(id: String, to: String, opaque: String?, callback: String, secret: String) {
        Task {
            let client = HTTPClient(concurrency: 1)
            for status in ["sent", "delivered", "read", "delivered"] {
                try? await Task.sleep(for: .milliseconds(100))
                var entry: [String: JSONValue] = [
                    "id": .string(id), "status": .string(status), "timestamp": .string(String(nowMilliseconds() / 1000)), "recipient_id": .string(to),
                ]
                if let opaque { entry["biz_opaque_callback_data"] = .string(opaque) }
                let body: JSONValue = [
                    "object": "whatsapp_business_account",
                    "entry": [
                        ["id": "sandbox-waba", "changes": [["field": "messages", "value": ["messaging_product": "whatsapp", "statuses": [.object(entry)]]]]]
                    ],
                ]
                let bytes = body.serialized()
                let signature = "sha256=" + Hashing.hex(Hashing.hmacSHA256(key: Array(secret.utf8), message: bytes))
                _ = try? await client.postJSON(callback, bytes, headers: [("X-Hub-Signature-256", signature)])
            }
        }
    }

    /// Twilio's callbacks: sent, then delivered, each signed (`X-Twilio-Signature`)
    /// with the auth token the Messages request authenticated with, as Twilio does.
    static func twilioStatuses(sid: String, callback: String, authToken: String) {
        Task {
            let client = HTTPClient(concurrency: 1)
            for status in ["sent", "delivered"] {
                try? await Task.sleep(for: .milliseconds(100))
                let form = ["MessageSid": sid, "MessageStatus": status, "AccountSid": "ACsandbox"]
                let signature = TwilioSignature.compute(url: callback, parameters: form, authToken: authToken)
                _ = try? await client.send(
                    method: "POST", url: callback,
                    headers: [("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", signature)],
                    body: Array(URLEncoding.form(form.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }).utf8))
            }
        }
    }

    /// The password of a `Basic` Authorization header ("" if none).
    static func basicPassword(_ header: String?) -> String {
        guard let header, header.hasPrefix("Basic "), let data = Data(base64Encoded: String(header.dropFirst(6))),
            let pair = String(data: data, encoding: .utf8), let colon = pair.firstIndex(of: ":")
        else { return "" }
        return String(pair[pair.index(after: colon)...])
    }

    static func template(_ name: String, _ language: String, _ status: String, _ category: String, _ body: String) -> JSONValue {
        [
            "name": .string(name), "language": .string(language), "status": .string(status), "category": .string(category),
            "id": .string("\(name)-\(language)"),
            "components": [["type": "BODY", "text": .string(body)]],
        ]
    }

    static func whatsAppError(_ status: Int, code: Int, _ message: String) -> Response {
        json(
            status,
            [
                "error": [
                    "message": .string(message), "type": "OAuthException", "code": .int(Int64(code)),
                    "error_data": ["messaging_product": "whatsapp", "details": .string(message)], "fbtrace_id": "sandbox",
                ]
            ])
    }

    static func json(_ status: Int, _ body: JSONValue) -> Response {
        Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(bytes: body.serialized())))
    }

}

/// What the sandbox was told and what it received.
final class SandboxState: Sendable {
    private let state: Mutex<(requests: [JSONValue], throttled: [String: Int])>
    private let reject: Set<String>
    private let throttleFirst: Int

    private let templates = Mutex<[String: String]>([:])

    /// A template's status as changed through `/sandbox/templates/…/status` (nil: as listed).
    func templateStatus(_ key: String) -> String? { templates.withLock { $0[key] } }
    func setTemplateStatus(_ key: String, _ status: String) { templates.withLock { $0[key] = status } }

    private let marketing: Set<String>
    private let spamLimitAfter: Int
    private let sentFrom = Mutex<[String: Int]>([:])

    init(reject: Set<String>, throttleFirst: Int, marketingLimited: Set<String> = [], spamLimitAfter: Int = 0) {
        self.reject = reject
        self.throttleFirst = throttleFirst
        self.marketing = marketingLimited
        self.spamLimitAfter = spamLimitAfter
        state = Mutex(([], [:]))
    }

    /// Whether `number` has had its share of marketing (131049).
    func marketingLimited(_ number: String) -> Bool { marketing.contains(number) || marketing.contains("+" + number) }

    /// Whether the number has sent `spamLimitAfter` messages already (131048 from then on).
    func spamLimited(phoneNumberId: String) -> Bool {
        guard spamLimitAfter > 0 else { return false }
        return sentFrom.withLock { s in
            s[phoneNumberId, default: 0] += 1
            return s[phoneNumberId]! > spamLimitAfter
        }
    }

    /// Keeps a request, with when it arrived (`received_ms`, UTC).
    func record(_ fields: [String: JSONValue]) {
        var r = fields
        r["received_ms"] = .int(nowMilliseconds())
        state.withLock { $0.requests.append(.object(r)) }
    }
    var requests: [JSONValue] { state.withLock { $0.requests } }
    func rejects(_ number: String) -> Bool { reject.contains(number) || reject.contains("+" + number) }

    /// True for the first `throttleFirst` requests of an API.
    func throttle(_ api: String) -> Bool {
        state.withLock { s in
            s.throttled[api, default: 0] += 1
            return s.throttled[api]! <= throttleFirst
        }
    }
}
