internal import CCurl
import Foundation
import HeraldCore

/// How the SMTP connection is secured.
public enum SMTPSecurity: String, Sendable {
    /// Plain SMTP (a local relay or the dev sink).
    case none
    /// `STARTTLS` required on the submission port.
    case starttls
    /// TLS from the first byte (`smtps://`, port 465).
    case implicit
}

public struct SMTPConfiguration: Sendable {
    /// `host:port`.
    public var server: String
    public var security: SMTPSecurity
    public var username: String?
    public var password: String?
    public var timeout: Duration

    public init(server: String, security: SMTPSecurity = .none, username: String? = nil, password: String? = nil, timeout: Duration = .seconds(30)) {
        self.server = server
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
    }
}

/// What an SMTP hand-off came to.
public enum SMTPOutcome: Sendable, Equatable {
    /// The server accepted the message (250 after DATA).
    case accepted
    /// A failure that may pass (4xx reply, or the session broke or timed out
    /// before the message was handed over): try again later.
    case temporary(String)
    /// The server could not be reached at all: nothing was attempted. An outage,
    /// not a failed attempt of this message.
    case unavailable(String)
    /// The server refused it for good (5xx reply, authentication): do not retry.
    case permanent(String)
}

/// Sends email over SMTP through libcurl, one connection per slot, reused between
/// messages (curl keeps it open in the easy handle).
public final class SMTPClient: Sendable {
    private let configuration: SMTPConfiguration
    private let slots: [SMTPSlot]
    private let pool: SlotPool

    public init(configuration: SMTPConfiguration, concurrency: Int = 4) {
        self.configuration = configuration
        slots = (0..<concurrency).map { SMTPSlot(index: $0) }
        pool = SlotPool(count: concurrency)
    }

    /// Hands one message to the server (blocking work runs on the slot's queue).
    public func send(from: String, to: [String], message: [UInt8]) async throws -> SMTPOutcome {
        let index = try await pool.acquire()
        defer { pool.release(index) }
        let slot = slots[index]
        let configuration = configuration
        return await slot.queue.run { slot.perform(configuration, from: from, to: to, message: message) }
    }
}

/// One curl easy handle for SMTP; touched only on `queue`.
final class SMTPSlot: @unchecked Sendable {
    let queue: BlockingQueue
    private var handle: UnsafeMutableRawPointer?

    init(index: Int) {
        queue = BlockingQueue(label: "smtp.slot.\(index)")
        _ = CurlGlobal.initialized
    }

    deinit {
        if let handle { curl_easy_cleanup(handle) }
    }

    func perform(_ c: SMTPConfiguration, from: String, to: [String], message: [UInt8]) -> SMTPOutcome {
        if handle == nil { handle = curl_easy_init() }
        guard let h = handle else { return .temporary("curl_easy_init failed") }
        curl_easy_reset(h)  // keeps the open connection
        let source = UploadSource(message)
        let context = Unmanaged.passRetained(source)
        defer { context.release() }
        var recipients: UnsafeMutablePointer<curl_slist>? = nil
        for r in to { recipients = curl_slist_append(recipients, "<\(r)>") }
        defer { curl_slist_free_all(recipients) }

        let scheme = c.security == .implicit ? "smtps" : "smtp"
        _ = herald_curl_setopt_string(h, CURLOPT_URL, "\(scheme)://\(c.server)")
        _ = herald_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        _ = herald_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(c.timeout.milliseconds))
        _ = herald_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        if c.security == .starttls { _ = herald_curl_setopt_long(h, CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue)) }
        if let u = c.username { _ = herald_curl_setopt_string(h, CURLOPT_USERNAME, u) }
        if let p = c.password { _ = herald_curl_setopt_string(h, CURLOPT_PASSWORD, p) }
        _ = herald_curl_setopt_string(h, CURLOPT_MAIL_FROM, "<\(from)>")
        _ = herald_curl_setopt_slist(h, CURLOPT_MAIL_RCPT, recipients)
        _ = herald_curl_setopt_long(h, CURLOPT_UPLOAD, 1)
        _ = herald_curl_setopt_offset(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(message.count))
        _ = herald_curl_setopt_data_cb(h, CURLOPT_READFUNCTION, curlReadUpload)
        _ = herald_curl_setopt_pointer(h, CURLOPT_READDATA, context.toOpaque())
        let code = curl_easy_perform(h)
        var reply = 0
        _ = herald_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &reply)
        if code == CURLE_OK { return .accepted }
        let message = "\(String(cString: curl_easy_strerror(code))) (last reply \(reply))"
        // A failed session may leave the connection mid-dialogue: start afresh.
        curl_easy_cleanup(h)
        handle = nil
        if code == CURLE_COULDNT_CONNECT { return .unavailable(message) }
        if code == CURLE_LOGIN_DENIED { return .permanent(message) }
        if (500..<600).contains(reply) { return .permanent(message) }
        return .temporary(message)
    }
}

/// The bytes curl reads for the upload; used only on the slot's queue.
final class UploadSource {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

private let curlReadUpload: herald_curl_data_cb = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let source = Unmanaged<UploadSource>.fromOpaque(userdata).takeUnretainedValue()
    let n = min(size * count, source.bytes.count - source.offset)
    guard n > 0 else { return 0 }
    source.bytes.withUnsafeBytes { raw in
        UnsafeMutableRawPointer(buffer).copyMemory(from: raw.baseAddress! + source.offset, byteCount: n)
    }
    source.offset += n
    return n
}
