import Foundation
import HeraldCore

/// SMS through Twilio's Messages API: a form POST with Basic auth and a
/// `StatusCallback` that names the message; the body is `sms/<name>.mustache`.
public struct TwilioSMSProvider: ChannelProvider {
    /// The API's base URL (`sender.twilio_api_url`).
    public var apiURL: String
    /// The account and its token; either empty: not configured.
    public var accountSid: String
    /// The account's auth token (a secret: never logged).
    public var authToken: String
    /// The sending number or messaging service (`sender.twilio_from`).
    public var from: String
    /// The base of the status callback's URL (`sender.public_url`).
    public var publicURL: String
    /// The `sms/<name>.mustache` bodies.
    public var templates: MustacheTemplates
    /// Bound on one API call.
    public var timeout: Duration

    /// A provider of these settings.
    public init(apiURL: String, accountSid: String, authToken: String, from: String, publicURL: String, templates: MustacheTemplates, timeout: Duration) {
        self.apiURL = apiURL
        self.accountSid = accountSid
        self.authToken = authToken
        self.from = from
        self.publicURL = publicURL
        self.templates = templates
        self.timeout = timeout
    }

    /// The form POST for `request`, or why it cannot be sent (no phone, not configured, a template error).
    public func plan(_ request: SendRequest, profile: ContactProfile?) async throws -> SendPlan {
        guard !accountSid.isEmpty, !authToken.isEmpty else {
            return .finish(.sendingFailed, "SMS is not configured (sender.twilio_account_sid and sender.twilio_auth_token)")
        }
        let phone: String
        switch PhoneField.number(request.phoneField, in: profile) {
        case .success(let number): phone = number
        case .failure(let miss): return .finish(.invalidRecord, miss.description)
        }
        guard let text = templates.renderSMS(request.template, data: .object(TemplateData.of(request, profile: profile))) else {
            return .finish(.sendingFailed, "no SMS template '\(request.template)' (config/templates/sms/\(request.template).mustache)")
        }
        let form: [(String, String)] = [
            ("To", phone), ("From", from), ("Body", text.trimmingCharacters(in: .whitespacesAndNewlines)),
            // Twilio calls (and signs) the URL as given: its query names the message.
            ("StatusCallback", "\(publicURL)/v1/status/twilio?\(MessageReference(request).text)"),
        ]
        let body = URLEncoding.form(form)
        let credentials = Data("\(accountSid):\(authToken)".utf8).base64EncodedString()
        let url = "\(apiURL)/2010-04-01/Accounts/\(accountSid)/Messages.json"
        let call = HTTPRequest(
            method: "POST", url: url, headers: [("Authorization", "Basic \(credentials)"), ("Content-Type", "application/x-www-form-urlencoded")],
            body: Array(body.utf8), timeout: timeout)
        return .call(ProviderCall(callbacksNameMessage: true, action: .http(request: { call }, outcome: Self.outcome)))
    }

    /// Twilio's answer: the message SID on 2xx, else by Twilio's error code. No
    /// answer is unknown: the Messages API takes no idempotency key.
    public static func outcome(_ result: Result<HTTPClientResponse, HTTPClientError>) -> SendOutcome {
        switch result {
        case .success(let r):
            if (200..<300).contains(r.status) { return .sent(JSONValue.string(at: ["sid"], in: r.body)) }
            let code = (try? JSONValue.parse(r.body))?["code"].flatMap { if case .int(let c) = $0 { Int(c) } else { nil } }
            return outcome(status: r.status, code: code, detail: String(r.bodyText.prefix(200)))
        case .failure(let error): return .noResponse(error, idempotent: false)
        }
    }

    /// Twilio's error codes: throttling is deferred; the rest is final.
    public static func outcome(status: Int, code: Int?, detail: String) -> SendOutcome {
        if status == 429 || code == 20429 { return .deferred("Twilio throttled") }
        switch code {
        case 21211: return .failed("Twilio 21211: invalid 'To' number")
        case 21610: return .failed("Twilio 21610: the recipient replied STOP")
        case 21614: return .failed("Twilio 21614: 'To' is not a mobile number")
        default: return SendOutcome.serverError(status, "Twilio") ?? .failed("Twilio HTTP \(status): \(detail)")
        }
    }
}
