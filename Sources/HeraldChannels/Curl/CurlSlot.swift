internal import CCurl
import Foundation
import HeraldCore

/// One curl easy handle and the queue that alone uses it.
///
/// `@unchecked Sendable`: `handle` is touched only on `queue` (curl easy handles
/// are not thread-safe).
final class CurlSlot: @unchecked Sendable {
    let queue: BlockingQueue
    private var handle: UnsafeMutableRawPointer?

    init(index: Int) {
        queue = BlockingQueue(label: "curl.slot.\(index)")
        _ = CurlGlobal.initialized
    }

    deinit {
        if let handle { curl_easy_cleanup(handle) }
    }

    /// On `queue` only.
    func perform(method: String, url: String, headers: [(String, String)], body: [UInt8]?, timeout: Duration) throws -> HTTPClientResponse {
        if handle == nil { handle = curl_easy_init() }
        guard let h = handle else { throw HTTPClientError(code: .other, message: "curl_easy_init failed") }
        curl_easy_reset(h)
        let collector = ResponseCollector()
        let context = Unmanaged.passRetained(collector)
        defer { context.release() }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in headers { list = curl_slist_append(list, "\(name): \(value)") }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        defer { curl_slist_free_all(list) }

        _ = herald_curl_setopt_string(h, CURLOPT_URL, url)
        _ = herald_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, method)
        _ = herald_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        _ = herald_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(timeout.milliseconds))
        _ = herald_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        _ = herald_curl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        _ = herald_curl_setopt_data_cb(h, CURLOPT_WRITEFUNCTION, curlWriteBody)
        _ = herald_curl_setopt_pointer(h, CURLOPT_WRITEDATA, context.toOpaque())
        _ = herald_curl_setopt_data_cb(h, CURLOPT_HEADERFUNCTION, curlWriteHeader)
        _ = herald_curl_setopt_pointer(h, CURLOPT_HEADERDATA, context.toOpaque())
        let code: CURLcode = {
            if let body {
                return body.withUnsafeBytes { raw -> CURLcode in
                    _ = herald_curl_setopt_offset(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
                    // COPYPOSTFIELDS copies, so the buffer need not outlive this scope.
                    _ = herald_curl_setopt_pointer(h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
                    return curl_easy_perform(h)
                }
            }
            return curl_easy_perform(h)
        }()
        guard code == CURLE_OK else {
            let message = String(cString: curl_easy_strerror(code))
            let kind: HTTPClientError.Code = code == CURLE_OPERATION_TIMEDOUT ? .timeout : code == CURLE_COULDNT_CONNECT ? .connection : .other
            // A failed transfer may leave the connection in a bad state: start afresh.
            curl_easy_cleanup(h)
            handle = nil
            throw HTTPClientError(code: kind, message: "\(method) \(url): \(message)")
        }
        var status = 0
        _ = herald_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPClientResponse(status: status, headers: collector.headers, body: collector.body)
    }
}

/// Accumulates one response; used only on the slot's queue.
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
    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        collector.headers.removeAll()  // a new response (after 100-continue or a redirect)
    } else if let colon = line.firstIndex(of: ":") {
        let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespacesAndNewlines)
        collector.headers.append((name, value))
    }
    return n
}
