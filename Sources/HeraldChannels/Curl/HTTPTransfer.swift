internal import CCurl
import Glibc
import HeraldCore

/// An HTTP request as a `CurlMulti` transfer.
struct HTTPTransfer: CurlTransfer {
    let request: HTTPRequest

    /// What one request needs while it runs; used only on the loop thread.
    final class State {
        var body: [UInt8] = []
        var headers: [(String, String)] = []
        let headerList: UnsafeMutablePointer<curl_slist>?
        let policy: AddressPolicy?
        let maxBody: Int
        /// Set by the open-socket callback when the policy refused an address.
        var refusedAddress: String?
        var bodyTooLarge = false
        /// The request's `bodyFile`, open while it is sent.
        var file: UnsafeMutablePointer<FILE>?
        var filePath = ""
        /// Why `bodyFile` could not be read.
        var fileError: String?

        init(headerList: UnsafeMutablePointer<curl_slist>?, policy: AddressPolicy?, maxBody: Int) {
            self.headerList = headerList
            self.policy = policy
            self.maxBody = maxBody
        }
        deinit {
            curl_slist_free_all(headerList)
            if let file { fclose(file) }
        }
    }

    func configure(_ h: UnsafeMutableRawPointer) -> AnyObject {
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in request.headers { list = curl_slist_append(list, "\(name): \(value)") }
        list = curl_slist_append(list, "Expect:")  // no 100-continue round trip
        let state = State(headerList: list, policy: request.addressPolicy, maxBody: request.maxResponseBytes)
        // The state lives as long as the engine holds it: until the transfer ends.
        let context = Unmanaged.passUnretained(state).toOpaque()
        _ = herald_curl_setopt_string(h, CURLOPT_URL, request.url)
        _ = herald_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, request.method)
        _ = herald_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(request.timeout.milliseconds))
        _ = herald_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        _ = herald_curl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        _ = herald_curl_setopt_data_cb(h, CURLOPT_WRITEFUNCTION, curlWriteBody)
        _ = herald_curl_setopt_pointer(h, CURLOPT_WRITEDATA, context)
        _ = herald_curl_setopt_data_cb(h, CURLOPT_HEADERFUNCTION, curlWriteHeader)
        _ = herald_curl_setopt_pointer(h, CURLOPT_HEADERDATA, context)
        if request.addressPolicy != nil {
            _ = herald_curl_setopt_opensocket_cb(h, curlOpenSocket)
            _ = herald_curl_setopt_pointer(h, CURLOPT_OPENSOCKETDATA, context)
        }
        if let path = request.bodyFile {
            // Read by curl as it sends (`curlReadFile`), on the loop's own thread.
            state.file = fopen(path, "rb")
            state.filePath = path
            var size: off_t = 0
            if let f = state.file, fseeko(f, 0, SEEK_END) == 0 {
                size = ftello(f)
                rewind(f)
            } else {
                state.fileError = "cannot read \(path): \(String(cString: strerror(errno)))"
                // No request may leave with an empty body in place of the file: a
                // URL curl cannot parse ends the transfer before it connects, and
                // `result` reports the file.
                _ = herald_curl_setopt_string(h, CURLOPT_URL, "")
            }
            _ = herald_curl_setopt_long(h, CURLOPT_POST, 1)
            _ = herald_curl_setopt_offset(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(max(0, size)))
            _ = herald_curl_setopt_data_cb(h, CURLOPT_READFUNCTION, curlReadFile)
            _ = herald_curl_setopt_pointer(h, CURLOPT_READDATA, context)
        } else if let body = request.body {
            body.withUnsafeBytes { raw in
                _ = herald_curl_setopt_offset(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
                // COPYPOSTFIELDS copies, so the buffer need not outlive this scope.
                _ = herald_curl_setopt_pointer(
                    h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!))
            }
        }
        return state
    }

    func result(of h: UnsafeMutableRawPointer, code: CURLcode, state: AnyObject) -> Result<HTTPClientResponse, HTTPClientError> {
        let state = state as! State
        if let reason = state.fileError { return .failure(error(.other, reason)) }
        if let address = state.refusedAddress {
            return .failure(error(.refused, "the address \(address) is not public and not in the allow-list (sender.webhook_allowed_networks)"))
        }
        if state.bodyTooLarge { return .failure(error(.other, "the response body is over \(state.maxBody) bytes")) }
        guard code == CURLE_OK else {
            // What the server can have received decides what the caller may do:
            // with no request byte sent (no name, no connection, a connect timeout)
            // nothing was sent, whatever curl's code.
            var sent = 0
            _ = herald_curl_getinfo_long(h, CURLINFO_REQUEST_SIZE, &sent)
            let kind: HTTPClientError.Code = sent == 0 ? .connection : code == CURLE_OPERATION_TIMEDOUT ? .timeout : .other
            return .failure(error(kind, String(cString: curl_easy_strerror(code)) + (sent == 0 ? " (nothing was sent)" : " (after the request was sent)")))
        }
        var status = 0
        _ = herald_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return .success(HTTPClientResponse(status: status, headers: state.headers, body: state.body))
    }

    func failure(_ reason: String) -> Result<HTTPClientResponse, HTTPClientError> {
        .failure(error(.other, reason))
    }

    private func error(_ code: HTTPClientError.Code, _ text: String) -> HTTPClientError {
        HTTPClientError(code: code, message: "\(request.method) \(request.url): \(text)")
    }
}

private let curlWriteBody: herald_curl_data_cb = { ptr, size, count, userdata in
    guard let ptr, let userdata else { return 0 }
    let state = Unmanaged<HTTPTransfer.State>.fromOpaque(userdata).takeUnretainedValue()
    let n = size * count
    guard state.body.count + n <= state.maxBody else {
        state.bodyTooLarge = true
        return 0  // curl ends the transfer (CURLE_WRITE_ERROR)
    }
    state.body.append(contentsOf: UnsafeRawBufferPointer(start: ptr, count: n))
    return n
}

/// The next part of the request's `bodyFile`; aborts the transfer when it
/// cannot be read.
private let curlReadFile: herald_curl_data_cb = { ptr, size, count, userdata in
    guard let ptr, let userdata else { return Int(CURL_READFUNC_ABORT) }
    let state = Unmanaged<HTTPTransfer.State>.fromOpaque(userdata).takeUnretainedValue()
    guard let file = state.file else { return Int(CURL_READFUNC_ABORT) }
    let n = fread(ptr, 1, size * count, file)
    if n == 0, ferror(file) != 0 {
        state.fileError = "reading \(state.filePath) failed: \(String(cString: strerror(errno)))"
        return Int(CURL_READFUNC_ABORT)
    }
    return n
}

/// Opens the socket only for an address the request's policy permits: this is
/// the address curl connects to, after DNS, so no name can smuggle in another.
private let curlOpenSocket: herald_curl_opensocket_cb = { clientp, _, address in
    guard let clientp, let address else { return CURL_SOCKET_BAD }
    let state = Unmanaged<HTTPTransfer.State>.fromOpaque(clientp).takeUnretainedValue()
    let family = address.pointee.family
    let raw = UnsafeRawPointer(address).advanced(by: MemoryLayout<curl_sockaddr>.offset(of: \.addr)!)
    var bytes: [UInt8] = []
    if family == AF_INET {
        let sin = raw.assumingMemoryBound(to: sockaddr_in.self).pointee
        bytes = withUnsafeBytes(of: sin.sin_addr) { Array($0) }
    } else if family == AF_INET6 {
        let sin6 = raw.assumingMemoryBound(to: sockaddr_in6.self).pointee
        bytes = withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }
    }
    guard !bytes.isEmpty, state.policy?.permits(bytes) ?? true else {
        state.refusedAddress = bytes.isEmpty ? "of family \(family)" : AddressPolicy.Network.format(bytes)
        return CURL_SOCKET_BAD
    }
    return socket(family, address.pointee.socktype, address.pointee.protocol)
}

private let curlWriteHeader: herald_curl_data_cb = { ptr, size, count, userdata in
    guard let ptr, let userdata else { return 0 }
    let state = Unmanaged<HTTPTransfer.State>.fromOpaque(userdata).takeUnretainedValue()
    let n = size * count
    // Split on bytes: this runs for every header line of every response.
    let line = UnsafeRawBufferPointer(start: ptr, count: n)
    if line.starts(with: "HTTP/".utf8) {
        state.headers.removeAll()  // a new response (after 100-continue or a redirect)
    } else if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
        state.headers.append((trimmed(line[..<colon]), trimmed(line[(colon + 1)...])))
    }
    return n
}

/// The bytes as text without surrounding spaces, tabs and line ends.
private func trimmed(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
    func blank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
    guard let first = bytes.firstIndex(where: { !blank($0) }), let last = bytes.lastIndex(where: { !blank($0) }) else { return "" }
    return String(decoding: bytes[first...last], as: UTF8.self)
}
