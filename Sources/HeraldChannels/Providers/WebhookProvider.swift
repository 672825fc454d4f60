import HeraldCore

/// A JSON POST to the step's URL, signed: `X-Herald-Signature: sha256=<hex>` is
/// HMAC-SHA256 under `sender.webhook_secret` of `<X-Herald-Timestamp>.<body>`;
/// `Idempotency-Key` carries the send id. Retried on 5xx, 429 and timeouts only.
public struct WebhookProvider: ChannelProvider {
    /// The signing key; empty: webhooks end `sending_failed` (never sent unsigned).
    public var secret: String
    /// Bound on one call (`sender.webhook_timeout`).
    public var timeout: Duration
    /// Where webhooks may connect (`sender.webhook_allowed_networks`).
    public var addressPolicy: AddressPolicy
    /// The clock of the signature's timestamp (injected; `.system` in production).
    public var clock = WallClock.system

    /// A provider of these settings.
    public init(secret: String, timeout: Duration, addressPolicy: AddressPolicy) {
        self.secret = secret
        self.timeout = timeout
        self.addressPolicy = addressPolicy
    }

    /// The signed POST for `request`, or why it cannot be sent (no secret).
    public func plan(_ request: SendRequest, profile: ContactProfile?) async throws -> SendPlan {
        let url = request.template
        guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
            return .finish(.sendingFailed, "webhook URL '\(url)' is not http(s)")
        }
        guard !secret.isEmpty else {
            return .finish(.sendingFailed, "sender.webhook_secret is not set: webhooks are only sent signed")
        }
        let body: JSONValue = [
            "id": .string(request.id), "campaign_id": .string(request.campaignId), "step_id": .string(request.stepId),
            "contact": profile?.json ?? ["id": .string(request.contactId)], "event": .object(request.event),
        ]
        let bytes = body.serialized()
        let key = Array(secret.utf8)
        let timeout = timeout, policy = addressPolicy, clock = clock, id = request.id
        return .call(
            ProviderCall(
                action: .http(
                    request: {
                        let timestamp = String(clock.now() / 1000)
                        let signature = Hashing.hex(Hashing.hmacSHA256(key: key, message: Array("\(timestamp).".utf8) + bytes))
                        return .postJSON(
                            url, bytes,
                            headers: [
                                ("X-Herald-Timestamp", timestamp), ("X-Herald-Signature", "sha256=\(signature)"), ("Idempotency-Key", id),
                            ], timeout: timeout, addressPolicy: policy)
                    },
                    outcome: Self.outcome)))
    }

    /// A webhook's answer: 2xx sent, 429 deferred, 5xx retried, the rest final; no
    /// answer is retried, since the receiver can drop a repeat by its idempotency key.
    public static func outcome(_ result: Result<HTTPClientResponse, HTTPClientError>) -> SendOutcome {
        switch result {
        case .success(let response):
            switch response.status {
            case 200..<300: .sent(nil)
            case 429: .deferred("HTTP 429")
            case 500..<600: .retry("HTTP \(response.status)")
            default: .failed("HTTP \(response.status): \(String(response.bodyText.prefix(200)))")
            }
        case .failure(let error): .noResponse(error, idempotent: true)  // Idempotency-Key
        }
    }
}
