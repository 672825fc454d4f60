internal import CCurl
import Foundation
import HeraldCore
import Synchronization

/// One curl multi handle driven by one dedicated thread: every HTTP transfer of an
/// `HTTPClient` runs on it, interleaved, over a shared cache of keep-alive
/// connections.
///
/// One thread for all transfers, instead of a blocking easy handle per
/// connection, is what lets a sender make thousands of calls a second on two
/// cores: a transfer costs no thread wake-up of its own, only the resumption of
/// its caller. The thread is never one of Swift's cooperative pool (it blocks in
/// `curl_multi_poll`).
///
/// `@unchecked Sendable`: `multi`, `running` and `idle` are touched only on the
/// loop thread (curl handles are not thread-safe), except `curl_multi_wakeup`,
/// which libcurl documents as callable from any thread and which is only called
/// under `inbox`'s lock while the loop has not stopped.
final class CurlMulti: @unchecked Sendable {
    /// Requests submitted together, and where their results go once all are in.
    ///
    /// `@unchecked Sendable`: after `submit`, only the loop thread touches it.
    final class Group: @unchecked Sendable {
        let requests: [HTTPRequest]
        var results: [HTTPExchange?]
        var remaining: Int
        let completion: CheckedContinuation<[HTTPExchange], Never>

        init(_ requests: [HTTPRequest], completion: CheckedContinuation<[HTTPExchange], Never>) {
            self.requests = requests
            self.results = Array(repeating: nil, count: requests.count)
            self.remaining = requests.count
            self.completion = completion
        }

        /// On the loop thread: the last result resumes the caller.
        func finish(_ index: Int, _ result: Result<HTTPClientResponse, HTTPClientError>, since started: ContinuousClock.Instant) {
            results[index] = HTTPExchange(result: result, duration: ContinuousClock.now - started)
            remaining -= 1
            if remaining == 0 { completion.resume(returning: results.map { $0! }) }
        }
    }

    /// One request of a group.
    struct Transfer {
        let group: Group
        let index: Int
        var request: HTTPRequest { group.requests[index] }

        func fail(_ code: HTTPClientError.Code, _ text: String, since started: ContinuousClock.Instant = .now) {
            group.finish(index, .failure(HTTPClientError(code: code, message: "\(request.method) \(request.url): \(text)")), since: started)
        }
    }

    /// An added transfer: what it needs until it completes.
    private final class Running {
        let transfer: Transfer
        let collector = ResponseCollector()
        let headerList: UnsafeMutablePointer<curl_slist>?
        let started = ContinuousClock.now

        init(transfer: Transfer, headerList: UnsafeMutablePointer<curl_slist>?) {
            self.transfer = transfer
            self.headerList = headerList
        }

        deinit { curl_slist_free_all(headerList) }
    }

    private let multi: UnsafeMutableRawPointer
    private let inbox = Mutex<(transfers: [Transfer], stopped: Bool)>(([], false))
    private var running: [UnsafeMutableRawPointer: Running] = [:]
    /// Easy handles whose transfer ended well, kept for reuse.
    private var idle: [UnsafeMutableRawPointer] = []

    /// - Parameter maxConnections: connections open at once (more transfers wait in
    ///   curl's queue for one to free), and how many idle ones are kept.
    init(maxConnections: Int, label: String) {
        _ = CurlGlobal.initialized
        multi = curl_multi_init()
        _ = herald_curl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, maxConnections)
        _ = herald_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, maxConnections)
        let thread = Thread { [self] in loop() }
        thread.name = label
        thread.start()
    }

    /// Queues requests; `completion` is resumed on the loop thread once all ended.
    func submit(_ requests: [HTTPRequest], completion: CheckedContinuation<[HTTPExchange], Never>) {
        let group = Group(requests, completion: completion)
        let transfers = requests.indices.map { Transfer(group: group, index: $0) }
        // The wake-up is sent under the lock: once the loop has seen `stopped`
        // (under the same lock) it frees the multi handle, and nobody may touch it.
        let accepted = inbox.withLock { box -> Bool in
            if box.stopped { return false }
            box.transfers.append(contentsOf: transfers)
            curl_multi_wakeup(multi)
            return true
        }
        if !accepted {
            for t in transfers { t.fail(.other, "the HTTP client was shut down") }
        }
    }

    /// Ends the loop: transfers in flight or queued fail.
    func stop() {
        inbox.withLock { box in
            guard !box.stopped else { return }
            box.stopped = true
            curl_multi_wakeup(multi)
        }
    }

    // MARK: - The loop thread

    private func loop() {
        while true {
            let (incoming, stopped) = inbox.withLock { box in
                defer { box.transfers.removeAll(keepingCapacity: true) }
                return (box.transfers, box.stopped)
            }
            if stopped {
                shutDown(failing: incoming)
                return
            }
            for transfer in incoming { add(transfer) }
            var stillRunning: Int32 = 0
            _ = curl_multi_perform(multi, &stillRunning)
            collectFinished()
            // Returns when a socket is ready, curl's next timeout is due, or
            // `curl_multi_wakeup` was called (a new transfer, or stop).
            _ = curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    private func add(_ transfer: Transfer) {
        let request = transfer.request
        guard let h = idle.popLast() ?? curl_easy_init() else {
            return transfer.fail(.other, "curl_easy_init failed")
        }
        curl_easy_reset(h)
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in request.headers { list = curl_slist_append(list, "\(name): \(value)") }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        let state = Running(transfer: transfer, headerList: list)
        // The collector lives as long as `state`, which `running` holds until the transfer ends.
        let context = Unmanaged.passUnretained(state.collector).toOpaque()
        _ = herald_curl_setopt_string(h, CURLOPT_URL, request.url)
        _ = herald_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)
        _ = herald_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        _ = herald_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(request.timeout.milliseconds))
        _ = herald_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        _ = herald_curl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        _ = herald_curl_setopt_data_cb(h, CURLOPT_WRITEFUNCTION, curlWriteBody)
        _ = herald_curl_setopt_pointer(h, CURLOPT_WRITEDATA, context)
        _ = herald_curl_setopt_data_cb(h, CURLOPT_HEADERFUNCTION, curlWriteHeader)
        _ = herald_curl_setopt_pointer(h, CURLOPT_HEADERDATA, context)
        if let body = request.body {
            body.withUnsafeBytes { raw in
                _ = herald_curl_setopt_offset(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
                // COPYPOSTFIELDS copies, so the buffer need not outlive this scope.
                _ = herald_curl_setopt_pointer(h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
        }
        guard curl_multi_add_handle(multi, h) == CURLM_OK else {
            curl_easy_cleanup(h)
            return transfer.fail(.other, "curl_multi_add_handle failed")
        }
        running[h] = state
    }

    private func collectFinished() {
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let h = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            curl_multi_remove_handle(multi, h)
            guard let state = running.removeValue(forKey: h) else {
                curl_easy_cleanup(h)
                continue
            }
            guard code == CURLE_OK else {
                let kind: HTTPClientError.Code = code == CURLE_OPERATION_TIMEDOUT ? .timeout : code == CURLE_COULDNT_CONNECT ? .connection : .other
                curl_easy_cleanup(h)  // start afresh rather than reuse a handle that failed
                state.transfer.fail(kind, String(cString: curl_easy_strerror(code)), since: state.started)
                continue
            }
            var status = 0
            _ = herald_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
            idle.append(h)
            let t = state.transfer
            t.group.finish(t.index, .success(HTTPClientResponse(status: status, headers: state.collector.headers, body: state.collector.body)), since: state.started)
        }
    }

    private func shutDown(failing queued: [Transfer]) {
        for (h, state) in running {
            curl_multi_remove_handle(multi, h)
            curl_easy_cleanup(h)
            state.transfer.fail(.other, "the HTTP client was shut down", since: state.started)
        }
        running.removeAll()
        for t in queued { t.fail(.other, "the HTTP client was shut down") }
        for h in idle { curl_easy_cleanup(h) }
        idle.removeAll()
        curl_multi_cleanup(multi)
    }
}

/// Accumulates one response; used only on the loop thread.
final class ResponseCollector {
    var body: [UInt8] = []
    var headers: [(String, String)] = []
}

/// curl_global_init must run once before any thread uses curl.
enum CurlGlobal {
    static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        return true
    }()
}

private let curlWriteBody: herald_curl_data_cb = { ptr, size, count, userdata in
    guard let ptr, let userdata else { return 0 }
    let collector = Unmanaged<ResponseCollector>.fromOpaque(userdata).takeUnretainedValue()
    let n = size * count
    collector.body.append(contentsOf: UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}

private let curlWriteHeader: herald_curl_data_cb = { ptr, size, count, userdata in
    guard let ptr, let userdata else { return 0 }
    let collector = Unmanaged<ResponseCollector>.fromOpaque(userdata).takeUnretainedValue()
    let n = size * count
    // Split on bytes: this runs for every header line of every response.
    let line = UnsafeRawBufferPointer(start: ptr, count: n)
    if line.starts(with: "HTTP/".utf8) {
        collector.headers.removeAll()  // a new response (after 100-continue or a redirect)
    } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
        collector.headers.append((trimmed(line[..<colon]), trimmed(line[(colon + 1)...])))
    }
    return n
}

/// The bytes as text without surrounding spaces, tabs and line ends.
private func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
    func blank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
    guard let first = bytes.firstIndex(where: { !blank($0) }), let last = bytes.lastIndex(where: { !blank($0) }) else { return "" }
    return String(decoding: bytes[first...last], as: UTF8.self)
}
