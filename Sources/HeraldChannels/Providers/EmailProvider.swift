import HeraldCore
import HeraldRedis

/// Email over SMTP: a Mustache template rendered for the contact, with a one-click
/// unsubscribe link and open and click tracking for marketing; or a notification
/// whose content is ready (a sales alert), sent as it is.
public struct EmailProvider: ChannelProvider {
    /// The `email/<name>/` subject, text and HTML templates.
    public var templates: MustacheTemplates
    /// The sender (`sender.email_from`, `sender.email_from_name`).
    public var from: EmailAddress
    /// The base of tracking and unsubscribe links (`sender.public_url`).
    public var publicURL: String
    /// Key of unsubscribe and tracking tokens; empty: neither (`unsubscribe.secret`).
    public var unsubscribeSecret: String
    /// At most this many messages per second to one recipient domain; 0: no limit.
    public var perDomainPerSecond: Int
    /// The clock that dates each message (injected; `.system` in production).
    public var clock = WallClock.system

    /// A provider of these settings.
    public init(templates: MustacheTemplates, from: EmailAddress, publicURL: String, unsubscribeSecret: String, perDomainPerSecond: Int) {
        self.templates = templates
        self.from = from
        self.publicURL = publicURL
        self.unsubscribeSecret = unsubscribeSecret
        self.perDomainPerSecond = perDomainPerSecond
    }

    /// The rendered message for `request`, with its per-domain rate, or why it cannot be sent.
    public func plan(_ request: SendRequest, profile: ContactProfile?) async throws -> SendPlan {
        if let address = request.to, let content = request.content {
            return planPrepared(request, to: address, content: content)
        }
        let to: EmailAddress
        do {
            to = try EmailAddress(request.to ?? profile?.email ?? "")
        } catch {
            return .finish(.invalidRecord, request.to == nil && profile?.email == nil ? "the contact has no email address" : "\(error)")
        }
        var data = TemplateData.of(request, profile: profile)
        let unsubscribe =
            request.isMarketing && !unsubscribeSecret.isEmpty
            ? UnsubscribeLink.url(base: publicURL, secret: unsubscribeSecret, contactId: request.contactId, messageId: request.id) : nil
        if let unsubscribe { data["unsubscribe_url"] = .string(unsubscribe) }
        guard let rendered = templates.render(request.template, data: .object(data)) else {
            return .finish(.sendingFailed, "no email template '\(request.template)' (subject.mustache and text.mustache)")
        }
        // Opens and clicks come back as email_opened / email_clicked events (campaign triggers).
        var html = rendered.html
        // Opens and clicks of a notification to a colleague are not the contact's.
        if let h = html, request.to == nil, !unsubscribeSecret.isEmpty {
            html = EmailTracking.instrument(
                html: h, base: publicURL, secret: unsubscribeSecret, contactId: request.contactId, messageId: request.id,
                keep: Set([unsubscribe].compactMap { $0 }))
        }
        // A request's own From (a broadcast's) only at the configured From's
        // domain: the one the relay, SPF and DKIM are set up for.
        let sender = request.from ?? from
        guard sender.domain.lowercased() == from.domain.lowercased() else {
            return .finish(.sendingFailed, "From '\(sender.address)' is not at \(from.domain), the domain of sender.email_from")
        }
        let message: [UInt8]
        do {
            message = try EmailMessage(
                from: sender, to: to, subject: rendered.subject, text: rendered.text, html: html,
                sendId: request.id, unsubscribeURL: unsubscribe, date: clock.date()
            ).rendered()
        } catch {
            return .finish(.sendingFailed, "\(error)")
        }
        return call(message, from: sender, to: to)
    }

    /// An internal notification (a sales alert): rendered by whoever asked for it,
    /// sent to `request.to` — no consent check, unsubscribe link or tracking, since
    /// the reader is a colleague, not the contact. Limits, retries and states apply.
    func planPrepared(_ request: SendRequest, to address: String, content: PreparedEmail) -> SendPlan {
        let message: [UInt8]
        let to: EmailAddress
        do {
            to = try EmailAddress(address)
            var email = EmailMessage(
                from: from, to: to, subject: content.subject, text: content.text, html: content.html, sendId: request.id, date: clock.date())
            email.attachments = content.attachments
            message = try email.rendered()
        } catch {
            return .finish(.invalidRecord, "\(error)")
        }
        return call(message, from: from, to: to)
    }

    func call(_ message: [UInt8], from: EmailAddress, to: EmailAddress) -> SendPlan {
        var rates: [RateLimiter.Rate] = []
        if perDomainPerSecond > 0 {
            rates.append(.init(name: "email-domain:\(to.domain.lowercased())", limit: perDomainPerSecond, window: .seconds(1)))
        }
        return .call(ProviderCall(rates: rates, action: .smtp(SMTPEnvelope(from: from.address, to: [to.address], message: message), outcome: Self.outcome)))
    }

    /// What an SMTP hand-off means for the message.
    public static func outcome(_ smtp: SMTPOutcome) -> SendOutcome {
        switch smtp {
        case .accepted: .sent(nil)
        case .temporary(let reason): .retry(reason)
        case .unavailable(let reason): .deferred("the SMTP server could not be reached: \(reason)")
        case .permanent(let reason): .failed(reason)
        case .unknown(let reason): .unknown(reason)
        }
    }
}
