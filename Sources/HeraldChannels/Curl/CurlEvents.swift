internal import CCurl
import Glibc

/// What `curl_multi_socket_action` needs from the program that drives it: the
/// sockets curl asks to have watched, kept in an epoll set, curl's next timeout,
/// and an eventfd that wakes the wait when work is submitted from another thread.
///
/// Used only on its `CurlMulti`'s loop thread, except `wake()` (a write to an
/// eventfd, safe from any thread while the descriptors are open; `CurlMulti`
/// calls it under its inbox lock, and closes them only after it saw `stopped`
/// under the same lock).
final class CurlEvents: @unchecked Sendable {
    let epoll: Int32
    let wakeup: Int32
    /// When curl wants `curl_multi_socket_action(CURL_SOCKET_TIMEOUT)` called; nil: no timer.
    var deadline: ContinuousClock.Instant?
    /// The sockets in the epoll set, and what each is registered for.
    private var registered: [Int32: UInt32] = [:]
    /// Sockets curl no longer watches but that stay in the set: a kept-alive
    /// connection between two transfers. Taking it out and putting it back was
    /// two `epoll_ctl` calls per message; parked, its next transfer costs one
    /// (a `MOD`, which also finds out, by failing, that curl closed the socket
    /// meanwhile and its number now names another one).
    private var parked: Set<Int32> = []

    init() {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        wakeup = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        // Without them no transfer could ever run: a process out of descriptors at start.
        guard epoll >= 0, wakeup >= 0 else { fatalError("curl engine: cannot create epoll/eventfd: \(String(cString: strerror(errno)))") }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = wakeup
        _ = epoll_ctl(epoll, EPOLL_CTL_ADD, wakeup, &event)
    }

    /// Installs the socket and timer callbacks on a multi handle; `self` must
    /// outlive it (its `CurlMulti` holds both).
    func attach(to multi: UnsafeMutableRawPointer) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = herald_curl_multi_setopt_socket_cb(multi, curlSocketCallback)
        _ = herald_curl_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, me)
        _ = herald_curl_multi_setopt_timer_cb(multi, curlTimerCallback)
        _ = herald_curl_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, me)
    }

    /// Watches `socket` for what curl asks (`CURL_POLL_IN`, `_OUT`, `_INOUT`), or
    /// stops watching it (`CURL_POLL_REMOVE`: parked).
    func watch(_ socket: Int32, _ what: Int32) {
        if what == CURL_POLL_REMOVE {
            if registered[socket] != nil { parked.insert(socket) }
            return
        }
        let mask = (what & CURL_POLL_IN != 0 ? EPOLLIN.rawValue : 0) | (what & CURL_POLL_OUT != 0 ? EPOLLOUT.rawValue : 0)
        let wasParked = parked.remove(socket) != nil
        // A socket curl watches already, for the same events: nothing to change.
        // (A parked one is always told again: its number may name a new socket.)
        if !wasParked, registered[socket] == mask { return }
        var event = epoll_event()
        event.events = mask
        event.data.fd = socket
        let known = registered[socket] != nil
        if epoll_ctl(epoll, known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, socket, &event) != 0 {
            // MOD: the socket was closed (which takes it out of the set) and its
            // number reused; ADD: already in the set. The other operation.
            _ = epoll_ctl(epoll, known ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, &event)
        }
        registered[socket] = mask
    }

    /// Whether an event on `socket` is for curl. An event on a parked socket
    /// (the server closed an idle connection, or sent something) takes it out
    /// of the set; curl finds out for itself when it next uses the connection.
    func isWatched(_ socket: Int32) -> Bool {
        guard parked.contains(socket) else { return true }
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, socket, nil)
        parked.remove(socket)
        registered[socket] = nil
        return false
    }

    /// How long the loop may wait: until curl's timer, at most `limit` ms.
    func waitMilliseconds(limit: Int32) -> Int32 {
        guard let deadline else { return limit }
        // Rounded up: rounded down, the last millisecond would be spent spinning.
        let left = (deadline - .now).components
        let ms = left.seconds * 1000 + (left.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(clamping: max(0, min(Int64(limit), ms)))
    }

    /// True once curl's timer is due (and clears it: curl sets it again as needed).
    func timerDue() -> Bool {
        guard let deadline, deadline <= .now else { return false }
        self.deadline = nil
        return true
    }

    /// Ends a wait in `epoll_wait` (from any thread).
    func wake() {
        var one: UInt64 = 1
        _ = write(wakeup, &one, 8)
    }

    /// Resets the eventfd after a wake-up.
    func drainWakeups() {
        var count: UInt64 = 0
        _ = read(wakeup, &count, 8)
    }

    func close() {
        _ = Glibc.close(epoll)
        _ = Glibc.close(wakeup)
    }
}

private let curlSocketCallback: herald_curl_socket_cb = { _, socket, what, userp, _ in
    guard let userp else { return 0 }
    Unmanaged<CurlEvents>.fromOpaque(userp).takeUnretainedValue().watch(socket, what)
    return 0
}

private let curlTimerCallback: herald_curl_timer_cb = { _, milliseconds, userp in
    guard let userp else { return 0 }
    // -1: no timer; 0: as soon as possible.
    Unmanaged<CurlEvents>.fromOpaque(userp).takeUnretainedValue().deadline = milliseconds < 0 ? nil : .now + .milliseconds(milliseconds)
    return 0
}
