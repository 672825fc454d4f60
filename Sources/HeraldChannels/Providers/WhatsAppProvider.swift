import Foundation
import HeraldCore
import HeraldRedis

/// WhatsApp Business Cloud API template messages from one phone number:
/// `POST {api}/{version}/{phone-number-id}/messages`. The template's body
/// parameters come from `config/templates/whatsapp/<name>.yaml`: each maps a field
/// of the data (`contact.attributes.first_name`, `event.total`) with a default used
/// when the value is missing or empty — no one gets a blank.
public struct WhatsAppProvider: ChannelProvider {
    /// The Cloud API's base URL and version (`sender.whatsapp_api_url`, `…_version`).
    public var apiURL: String
    /// The Graph API version in URLs (`v21.0`).
    public var apiVersion: String
    /// The sending number's id and its access token; either empty: not configured.
    public var phoneNumberId: String
    /// The access token (a secret: never logged).
    public var token: String
    /// Each template's language and body parameters.
    public var templates: WhatsAppTemplates
    /// The provider's template catalogue (`heraldctl templates sync`), which decides
    /// whether a template may be used at all.
    public var catalog: WhatsAppCatalog
    /// One message per recipient per this interval (Meta's pair rate); zero: none.
    public var recipientInterval: Duration
    /// Unique recipients per rolling 24 hours when no tier was set at run time; 0: unlimited.
    public var tier: Int
    /// Bound on one API call.
    public var timeout: Duration
    /// Whose unique-recipient tier the number counts against (Meta counts it per
    /// business portfolio, shared by its numbers); "": the phone number id.
    public var portfolio: String

    /// A provider of these settings.
    public init(
        apiURL: String, apiVersion: String, phoneNumberId: String, token: String, templates: WhatsAppTemplates, catalog: WhatsAppCatalog,
        recipientInterval: Duration, tier: Int, timeout: Duration, portfolio: String = ""
    ) {
        self.portfolio = portfolio
        self.apiURL = apiURL
        self.apiVersion = apiVersion
        self.phoneNumberId = phoneNumberId
        self.token = token
        self.templates = templates
        self.catalog = catalog
        self.recipientInterval = recipientInterval
        self.tier = tier
        self.timeout = timeout
    }

    /// The template message POST for `request`, with its limits, or why it cannot be sent.
    public func plan(_ request: SendRequest, profile: ContactProfile?) async throws -> SendPlan {
        guard !token.isEmpty, !phoneNumberId.isEmpty else {
            return .finish(.sendingFailed, "WhatsApp is not configured (sender.whatsapp_token and sender.whatsapp_phone_number_id)")
        }
        let phone: String
        switch PhoneField.number(request.phoneField, in: profile) {
        case .success(let number): phone = number
        case .failure(let miss): return .finish(.invalidRecord, miss.description)
        }
        // A request's own language and variables (a broadcast's) stand in for the
        // template's configured mapping, which it then does not need.
        let configured = templates.template(request.template)
        let language = request.language.isEmpty ? configured?.language : request.language
        let mapping = request.variables.isEmpty ? configured?.parameters : request.variables.map { .init(field: $0.field, defaultValue: $0.defaultValue) }
        guard let language, let mapping else {
            return .finish(.sendingFailed, "no WhatsApp template '\(request.template)' (config/templates/whatsapp/\(request.template).yaml)")
        }
        let template = WhatsAppTemplates.Template(language: language, parameters: mapping)
        guard let entry = try await catalog.entries()["\(request.template)|\(template.language)"] else {
            return .finish(
                .sendingFailed, "WhatsApp template '\(request.template)' (\(template.language)) is not in the synced catalogue (heraldctl templates sync)")
        }
        guard entry.status == "APPROVED" else {
            return .finish(.sendingFailed, "WhatsApp template '\(request.template)' is \(entry.status), not APPROVED")
        }
        guard entry.parameters == template.parameters.count else {
            return .finish(
                .sendingFailed,
                "WhatsApp template '\(request.template)' takes \(entry.parameters) parameters; "
                    + (request.variables.isEmpty ? "config/templates/whatsapp maps" : "the request's variables are") + " \(template.parameters.count)")
        }
        let parameters = template.parameters.map { p -> String in
            switch Self.value(at: p.path, request, profile: profile) {
            case .string(let s)? where !s.isEmpty: s
            case .int(let i)?: String(i)
            case .double(let d)?: String(d)
            default: p.defaultValue
            }
        }
        // Meta returns it in every status of the message: the status finds its
        // record without a mapping from the wamid (`MessageReference`).
        let reference = MessageReference(request).text
        let named = reference.utf8.count <= MessageReference.whatsAppLimit
        let body = Self.body(
            to: String(phone.dropFirst()), template: request.template, language: template.language, parameters: parameters, reference: named ? reference : nil)
        let url = "\(apiURL)/\(apiVersion)/\(phoneNumberId)/messages"
        // Meta's limits: throughput per number (the channel's rate, added by the
        // sender), one message per recipient per interval, and unique recipients
        // per rolling 24 hours by tier.
        var rates: [RateLimiter.Rate] = []
        if recipientInterval > .zero {
            rates.append(.init(name: "whatsapp-recipient:\(phone)", limit: 1, window: recipientInterval))
        }
        let unique = RateLimiter.UniqueRecipients(account: portfolio.isEmpty ? phoneNumberId : portfolio, recipient: phone, defaultLimit: tier)
        let call = HTTPRequest.postJSON(url, body, headers: [("Authorization", "Bearer \(token)")], timeout: timeout)
        return .call(ProviderCall(rates: rates, unique: unique, callbacksNameMessage: named, action: .http(request: { call }, outcome: Self.outcome)))
    }

    /// The Cloud API's answer: the message id on 2xx, else by Meta's error code.
    /// No answer is unknown: the API takes no idempotency key.
    public static func outcome(_ result: Result<HTTPClientResponse, HTTPClientError>) -> SendOutcome {
        switch result {
        case .success(let r):
            if (200..<300).contains(r.status) { return .sent(JSONValue.string(at: ["messages", 0, "id"], in: r.body)) }
            let code = (try? JSONValue.parse(r.body))?["error"]?["code"].flatMap { if case .int(let c) = $0 { Int(c) } else { nil } }
            return outcome(status: r.status, code: code, detail: String(r.bodyText.prefix(200)))
        case .failure(let error): return .noResponse(error, idempotent: false)
        }
    }

    /// A template message in the Cloud API's JSON, written straight as bytes in
    /// a fixed key order. Built as `JSONValue` dictionaries and serialized with
    /// sorted keys it cost about 3 % of the sender's CPU per message.
    public static func body(to: String, template: String, language: String, parameters: [String], reference: String?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        func string(_ s: String) { JSONValue.writeString(s, to: &out) }
        func raw(_ s: StaticString) { out.append(contentsOf: UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount)) }
        raw(#"{"messaging_product":"whatsapp","recipient_type":"individual","to":"#)
        string(to)
        raw(#","type":"template","template":{"name":"#)
        string(template)
        raw(#","language":{"code":"#)
        string(language)
        raw(#"},"components":[{"type":"body","parameters":["#)
        for (i, text) in parameters.enumerated() {
            raw(i == 0 ? #"{"type":"text","text":"# : #",{"type":"text","text":"#)
            string(text)
            out.append(UInt8(ascii: "}"))
        }
        raw("]}]}")
        if let reference {
            raw(#","biz_opaque_callback_data":"#)
            string(reference)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A business portfolio's messaging limit as Meta's Graph API names it
    /// (`whatsapp_business_manager_messaging_limit`: `TIER_250`, `TIER_2K`,
    /// `TIER_10K`, `TIER_100K`, `TIER_UNLIMITED`): unique recipients per rolling
    /// 24 hours, 0 for unlimited; nil for anything else (the former 1,000 tier is gone).
    public static func messagingLimit(_ tier: String) -> Int? {
        ["TIER_250": 250, "TIER_2K": 2_000, "TIER_10K": 10_000, "TIER_100K": 100_000, "TIER_UNLIMITED": 0][tier]
    }

    /// Meta's error codes: throttling is retried; the per-user marketing limit
    /// waits a day; the spam rate limit stops the number; the rest is final.
    public static func outcome(status: Int, code: Int?, detail: String) -> SendOutcome {
        switch code {
        case 130429, 131056, 80007: return .deferred("WhatsApp throttled (\(code!))")
        case 131049: return .retryAfter("WhatsApp 131049: the recipient's marketing limit (not an error; tried again in 24 h)", .seconds(86_400))
        case 131048: return .accountStopped("WhatsApp 131048: spam rate limit; the number's sending is paused")
        case 131026: return .failed("WhatsApp 131026: message undeliverable")
        case 131047: return .failed("WhatsApp 131047: more than 24 hours since the customer last replied")
        case 131050: return .failed("WhatsApp 131050: the user stopped marketing messages")
        case 132000, 132001, 132015, 132016: return .failed("WhatsApp \(code!): template problem (parameters, missing, paused or disabled)")
        default: return SendOutcome.serverError(status, "WhatsApp") ?? .failed("WhatsApp HTTP \(status): \(detail)")
        }
    }

    /// A WhatsApp parameter's value: what `templateData` holds at `path`, read
    /// from the request and profile themselves. Building the whole data object
    /// (the profile as JSON, every attribute copied) for each message to read one
    /// or two values cost the sender about 3 % of a WhatsApp send's CPU
    /// (docs/benchmarks.md).
    public static func value(at path: [String], _ request: SendRequest, profile: ContactProfile?) -> JSONValue? {
        guard let head = path.first else { return nil }
        let rest = path.dropFirst()
        func dig(_ root: JSONValue?, _ keys: ArraySlice<String>) -> JSONValue? { keys.reduce(root) { $0?[$1] } }
        switch head {
        case "event":
            guard let name = rest.first else { return .object(request.event) }
            return dig(request.event[name], rest.dropFirst())
        case "campaign_id": return dig(.string(request.campaignId), rest)
        case "send_id": return dig(.string(request.id), rest)
        case "contact":
            guard let profile else { return dig(["id": .string(request.contactId)], rest) }
            if rest.first == "attributes", let name = rest.dropFirst().first {
                return dig(profile.attributes[name], rest.dropFirst(2))
            }
            return dig(profile.json, rest)
        default: return nil
        }
    }
}

/// WhatsApp templates as Herald maps them: `config/templates/whatsapp/<name>.yaml`
/// with `language` and `parameters: [{field, default}]`, in the provider's order.
public struct WhatsAppTemplates: Sendable {
    /// One template's mapping.
    public struct Template: Sendable {
        /// One body parameter: the data field it shows, and its text when that is empty.
        public struct Parameter: Sendable {
            /// The dotted data field, e.g. `contact.attributes.first_name`.
            public let field: String
            /// The text shown when the field is missing or empty.
            public let defaultValue: String
            /// `field` split at its dots, once, when the mapping is loaded.
            public let path: [String]

            /// A parameter showing `field`, or `defaultValue`.
            public init(field: String, defaultValue: String) {
                self.field = field
                self.defaultValue = defaultValue
                self.path = field.split(separator: ".").map(String.init)
            }
        }
        /// The approved language to send in (`cs`, `en_US`).
        public var language: String
        /// The body parameters, in `{{1}}`, `{{2}}`, … order.
        public var parameters: [Parameter]

        /// A mapping in `language` with `parameters`.
        public init(language: String, parameters: [Parameter]) {
            self.language = language
            self.parameters = parameters
        }
    }

    /// Mappings by template name.
    public let templates: [String: Template]

    /// These mappings.
    public init(templates: [String: Template]) { self.templates = templates }

    /// The mapping of template `name`, or nil.
    public func template(_ name: String) -> Template? { templates[name] }

    /// - Throws: naming the file and the field for a malformed mapping.
    public static func load(directory: String) throws -> WhatsAppTemplates {
        let dir = "\(directory)/whatsapp"
        var out: [String: Template] = [:]
        for file in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter({ $0.hasSuffix(".yaml") }) {
            let path = "\(dir)/\(file)"
            // Herald's one YAML reader: Yams' own `load` traps on a base-60 integer past `Int`.
            let yaml: JSONValue?
            let text = try String(contentsOfFile: path, encoding: .utf8)
            do { yaml = try YAMLValue.document(text) } catch { throw TemplateError("\(path) is \(error.reason)") }
            guard let language = yaml?["language"]?.stringValue else { throw TemplateError("\(path): needs `language`") }
            var parameters: [Template.Parameter] = []
            for (i, p) in (yaml?["parameters"]?.arrayValue ?? []).enumerated() {
                guard let field = p["field"]?.stringValue, let d = p["default"]?.scalarText, !d.isEmpty else {
                    throw TemplateError("\(path): parameters[\(i)] needs `field` and a non-empty `default`")
                }
                parameters.append(.init(field: field, defaultValue: d))
            }
            out[String(file.dropLast(5))] = Template(language: language, parameters: parameters)
        }
        return WhatsAppTemplates(templates: out)
    }
}

/// A template mapping that cannot be used, naming its file.
public struct TemplateError: Error, CustomStringConvertible {
    /// What is wrong with the mapping, naming the file and field.
    public let description: String
    init(_ description: String) { self.description = description }
}
