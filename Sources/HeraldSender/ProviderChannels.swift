import Foundation
import HeraldChannels
import HeraldCore
import HeraldRedis

/// WhatsApp Business Cloud API template messages and Twilio SMS.
extension SendProcessor {
    /// `POST {api}/{version}/{phone-number-id}/messages` with a template message.
    /// The template's body parameters come from `config/templates/whatsapp/<name>.yaml`:
    /// each maps a field of the data (`contact.attributes.first_name`, `event.total`)
    /// with a default used when the value is missing or empty — no one gets a blank.
    func planWhatsApp(_ request: SendRequest, profile: ContactProfile?) async throws -> Plan {
        guard !settings.whatsAppToken.isEmpty, !settings.whatsAppPhoneNumberId.isEmpty else {
            return .finish(.sendingFailed, "WhatsApp is not configured (sender.whatsapp_token and sender.whatsapp_phone_number_id)")
        }
        guard let phone = profile?.phone, ContactInput.isE164(phone) else {
            return .finish(.invalidRecord, profile?.phone == nil ? "the contact has no phone number" : "'\(profile?.phone ?? "")' is not an E.164 number")
        }
        guard let template = whatsAppTemplates.template(request.template) else {
            return .finish(.sendingFailed, "no WhatsApp template '\(request.template)' (config/templates/whatsapp/\(request.template).yaml)")
        }
        // The provider's catalogue decides whether the template may be used at all.
        guard let entry = try await whatsAppCatalog.entries()["\(request.template)|\(template.language)"] else {
            return .finish(.sendingFailed, "WhatsApp template '\(request.template)' (\(template.language)) is not in the synced catalogue (heraldctl templates sync)")
        }
        guard entry.status == "APPROVED" else {
            return .finish(.sendingFailed, "WhatsApp template '\(request.template)' is \(entry.status), not APPROVED")
        }
        guard entry.parameters == template.parameters.count else {
            return .finish(.sendingFailed, "WhatsApp template '\(request.template)' takes \(entry.parameters) parameters; config/templates/whatsapp maps \(template.parameters.count)")
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
        let body = Self.whatsAppBody(
            to: String(phone.dropFirst()), template: request.template, language: template.language, parameters: parameters, reference: named ? reference : nil)
        let url = "\(settings.whatsAppURL)/\(settings.whatsAppVersion)/\(settings.whatsAppPhoneNumberId)/messages"
        // Meta's limits: throughput per number (a rate), one message per recipient
        // per interval, and unique recipients per rolling 24 hours by tier.
        var rates = channelRates(request)
        if settings.whatsAppRecipientInterval > .zero {
            rates.append(.init(name: "whatsapp-recipient:\(phone)", limit: 1, window: settings.whatsAppRecipientInterval))
        }
        let unique = RateLimiter.UniqueRecipients(account: settings.whatsAppPhoneNumberId, recipient: phone, defaultLimit: settings.whatsAppTier)
        let request = HTTPRequest.postJSON(url, body, headers: [("Authorization", "Bearer \(settings.whatsAppToken)")], timeout: settings.webhookTimeout)
        return .call(Call(rates: rates, unique: unique, callbacksNameMessage: named, action: .http(request: { request }, outcome: { result in
            switch result {
            case .success(let r):
                if (200..<300).contains(r.status) { return .sent(JSONValue.string(at: ["messages", 0, "id"], in: r.body)) }
                let code = (try? JSONValue.parse(r.body))?["error"]?["code"].flatMap { if case .int(let c) = $0 { Int(c) } else { nil } }
                return Self.whatsAppOutcome(status: r.status, code: code, detail: String(r.bodyText.prefix(200)))
            case .failure(let error): return .noResponse(error, idempotent: false)  // no idempotency key
            }
        })))
    }

    /// A template message in the Cloud API's JSON, written straight as bytes in
    /// a fixed key order. Built as `JSONValue` dictionaries and serialized with
    /// sorted keys it cost about 3 % of the sender's CPU per message.
    static func whatsAppBody(to: String, template: String, language: String, parameters: [String], reference: String?) -> [UInt8] {
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

    /// Meta's error codes: throttling is retried; the rest is final.
    static func whatsAppOutcome(status: Int, code: Int?, detail: String) -> Outcome {
        switch code {
        case 130429, 131056, 80007: return .deferred("WhatsApp throttled (\(code!))")
        case 131026: return .failed("WhatsApp 131026: message undeliverable")
        case 131047: return .failed("WhatsApp 131047: more than 24 hours since the customer last replied")
        case 131050: return .failed("WhatsApp 131050: the user stopped marketing messages")
        case 132000, 132001, 132015, 132016: return .failed("WhatsApp \(code!): template problem (parameters, missing, paused or disabled)")
        default: return Self.serverError(status, "WhatsApp") ?? .failed("WhatsApp HTTP \(status): \(detail)")
        }
    }

    /// Twilio's Messages API: a form POST with Basic auth and a `StatusCallback`.
    func planSMS(_ request: SendRequest, profile: ContactProfile?) -> Plan {
        guard !settings.twilioAccountSid.isEmpty, !settings.twilioAuthToken.isEmpty else {
            return .finish(.sendingFailed, "SMS is not configured (sender.twilio_account_sid and sender.twilio_auth_token)")
        }
        guard let phone = profile?.phone, ContactInput.isE164(phone) else {
            return .finish(.invalidRecord, profile?.phone == nil ? "the contact has no phone number" : "'\(profile?.phone ?? "")' is not an E.164 number")
        }
        guard let text = templates.renderSMS(request.template, data: Self.templateData(request, profile: profile)) else {
            return .finish(.sendingFailed, "no SMS template '\(request.template)' (config/templates/sms/\(request.template).mustache)")
        }
        let form: [(String, String)] = [
            ("To", phone), ("From", settings.twilioFrom), ("Body", text.trimmingCharacters(in: .whitespacesAndNewlines)),
            // Twilio calls (and signs) the URL as given: its query names the message.
            ("StatusCallback", "\(settings.publicURL)/v1/status/twilio?\(MessageReference(request).text)"),
        ]
        let body = URLEncoding.form(form)
        let credentials = Data("\(settings.twilioAccountSid):\(settings.twilioAuthToken)".utf8).base64EncodedString()
        let url = "\(settings.twilioURL)/2010-04-01/Accounts/\(settings.twilioAccountSid)/Messages.json"
        let call = HTTPRequest(
            method: "POST", url: url, headers: [("Authorization", "Basic \(credentials)"), ("Content-Type", "application/x-www-form-urlencoded")],
            body: Array(body.utf8), timeout: settings.webhookTimeout)
        return .call(Call(rates: channelRates(request), callbacksNameMessage: true, action: .http(request: { call }, outcome: { result in
            switch result {
            case .success(let r):
                if (200..<300).contains(r.status) { return .sent(JSONValue.string(at: ["sid"], in: r.body)) }
                let code = (try? JSONValue.parse(r.body))?["code"].flatMap { if case .int(let c) = $0 { Int(c) } else { nil } }
                return Self.twilioOutcome(status: r.status, code: code, detail: String(r.bodyText.prefix(200)))
            case .failure(let error): return .noResponse(error, idempotent: false)  // no idempotency key
            }
        })))
    }

    /// A provider's 5xx: 503 says the service did not take the request (deferred,
    /// an outage); any other 5xx may come after the message was accepted, and
    /// neither WhatsApp nor Twilio takes an idempotency key, so it is unknown
    /// rather than retried into a second message. nil below 500.
    static func serverError(_ status: Int, _ provider: String) -> Outcome? {
        guard status >= 500 else { return nil }
        return status == 503 ? .deferred("\(provider) HTTP 503") : .unknown("\(provider) HTTP \(status)")
    }

    static func twilioOutcome(status: Int, code: Int?, detail: String) -> Outcome {
        if status == 429 || code == 20429 { return .deferred("Twilio throttled") }
        switch code {
        case 21211: return .failed("Twilio 21211: invalid 'To' number")
        case 21610: return .failed("Twilio 21610: the recipient replied STOP")
        case 21614: return .failed("Twilio 21614: 'To' is not a mobile number")
        default: return Self.serverError(status, "Twilio") ?? .failed("Twilio HTTP \(status): \(detail)")
        }
    }

    /// A WhatsApp parameter's value: what `templateData` holds at `path`, read
    /// from the request and profile themselves. Building the whole data object
    /// (the profile as JSON, every attribute copied) for each message to read one
    /// or two values cost the sender about 3 % of a WhatsApp send's CPU
    /// (docs/benchmarks.md).
    static func value(at path: [String], _ request: SendRequest, profile: ContactProfile?) -> JSONValue? {
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

    /// What templates see: the profile, the triggering event, ids, the unsubscribe link.
    static func templateData(_ request: SendRequest, profile: ContactProfile?) -> JSONValue {
        [
            "contact": profile?.json ?? ["id": .string(request.contactId)], "event": .object(request.event),
            "campaign_id": .string(request.campaignId), "send_id": .string(request.id),
        ]
    }
}

/// WhatsApp templates as Herald maps them: `config/templates/whatsapp/<name>.yaml`
/// with `language` and `parameters: [{field, default}]`, in the provider's order.
struct WhatsAppTemplates: Sendable {
    struct Template: Sendable {
        struct Parameter: Sendable {
            let field: String
            let defaultValue: String
            /// `field` split at its dots, once, when the mapping is loaded.
            let path: [String]

            init(field: String, defaultValue: String) {
                self.field = field
                self.defaultValue = defaultValue
                self.path = field.split(separator: ".").map(String.init)
            }
        }
        var language: String
        var parameters: [Parameter]
    }

    let templates: [String: Template]

    func template(_ name: String) -> Template? { templates[name] }

    /// - Throws: naming the file and the field for a malformed mapping.
    static func load(directory: String) throws -> WhatsAppTemplates {
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

struct TemplateError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
