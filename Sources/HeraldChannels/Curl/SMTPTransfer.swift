internal import CCurl
import HeraldCore

/// One SMTP hand-off as a `CurlMulti` transfer.
///
/// A session that fails leaves its connection in doubt: curl closes an SMTP
/// connection whose transfer ended with an error rather than put it back in the
/// cache, so the next message starts on a fresh one.
struct SMTPTransfer: CurlTransfer {
    let configuration: SMTPConfiguration
    let envelope: SMTPEnvelope

    /// The bytes curl reads for the upload and the recipient list; used only on
    /// the loop thread.
    final class State {
        let bytes: [UInt8]
        var offset = 0
        let recipients: UnsafeMutablePointer<curl_slist>?

        init(bytes: [UInt8], recipients: UnsafeMutablePointer<curl_slist>?) {
            self.bytes = bytes
            self.recipients = recipients
        }
        deinit { curl_slist_free_all(recipients) }
    }

    func configure(_ h: UnsafeMutableRawPointer) -> AnyObject {
        let c = configuration
        var recipients: UnsafeMutablePointer<curl_slist>? = nil
        for r in envelope.to { recipients = curl_slist_append(recipients, "<\(r)>") }
        let state = State(bytes: envelope.message, recipients: recipients)
        let scheme = c.security == .implicit ? "smtps" : "smtp"
        _ = herald_curl_setopt_string(h, CURLOPT_URL, "\(scheme)://\(c.server)")
        _ = herald_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(c.timeout.milliseconds))
        _ = herald_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        if c.security == .starttls { _ = herald_curl_setopt_long(h, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue)) }
        if let u = c.username { _ = herald_curl_setopt_string(h, CURLOPT_USERNAME, u) }
        if let p = c.password { _ = herald_curl_setopt_string(h, CURLOPT_PASSWORD, p) }
        _ = herald_curl_setopt_string(h, CURLOPT_MAIL_FROM, "<\(envelope.from)>")
        _ = herald_curl_setopt_slist(h, CURLOPT_MAIL_RCPT, recipients)
        _ = herald_curl_setopt_long(h, CURLOPT_UPLOAD, 1)
        _ = herald_curl_setopt_offset(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(envelope.message.count))
        _ = herald_curl_setopt_data_cb(h, CURLOPT_READFUNCTION, curlReadUpload)
        // The state lives as long as the engine holds it: until the transfer ends.
        _ = herald_curl_setopt_pointer(h, CURLOPT_READDATA, Unmanaged.passUnretained(state).toOpaque())
        return state
    }

    func result(of h: UnsafeMutableRawPointer, code: CURLcode, state: AnyObject) -> SMTPOutcome {
        if code == CURLE_OK { return .accepted }
        var reply = 0
        _ = herald_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &reply)
        let message = "\(String(cString: curl_easy_strerror(code))) (last reply \(reply))"
        if code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST { return .unavailable(message) }
        if code == CURLE_LOGIN_DENIED { return .permanent(message) }
        if (500..<600).contains(reply) { return .permanent(message) }
        // The message went out whole and no final 4xx/5xx came back: it may be delivered.
        if let s = state as? State, s.offset >= s.bytes.count, !(400..<600).contains(reply) { return .unknown(message) }
        return .temporary(message)
    }

    func failure(_ reason: String) -> SMTPOutcome { .temporary(reason) }
}

private let curlReadUpload: herald_curl_data_cb = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let state = Unmanaged<SMTPTransfer.State>.fromOpaque(userdata).takeUnretainedValue()
    let n = min(size * count, state.bytes.count - state.offset)
    guard n > 0 else { return 0 }
    state.bytes.withUnsafeBytes { raw in
        UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + state.offset, byteCount: n)
    }
    state.offset += n
    return n
}
