internal import CCurl
import Foundation
import Glibc
import HeraldCore
import Synchronization

/// One kind of transfer a `CurlMulti` runs (an HTTP request, an SMTP hand-off):
/// what it sets on an easy handle, and how a finished transfer reads.
protocol CurlTransfer: Sendable {
    associatedtype Result: Sendable
    /// Sets this transfer's options on a freshly reset handle. The returned object
    /// (buffers, header lists, the callbacks' context) lives until the transfer ends.
    func configure(_ handle: UnsafeMutableRawPointer) -> AnyObject
    /// The result of a transfer that ran to its end, well (`CURLE_OK`) or not.
    func result(of handle: UnsafeMutableRawPointer, code: CURLcode, state: AnyObject) -> Result
    /// The result of a transfer that could not run (the engine stopped, no handle).
    func failure(_ reason: String) -> Result
}

/// One curl multi handle driven by one dedicated thread: every transfer of a
/// client (`HTTPClient`, `SMTPClient`) runs on it, interleaved, over a shared
/// cache of open connections.
///
/// One thread for all transfers, instead of a blocking easy handle per
/// connection, is what lets a sender make thousands of calls a second on two
/// cores: a transfer costs no thread wake-up of its own, only the resumption of
/// its caller. The thread is never one of Swift's cooperative pool (it blocks in
/// `epoll_wait`).
///
/// The loop uses curl's event-driven interface (`curl_multi_socket_action`,
/// with `CurlEvents`): only the sockets that are ready are handed to curl.
/// `curl_multi_perform` looks at every running transfer on each call and checks
/// each one's socket with a `poll(2)` of its own: with 64 connections that was
/// 8.5 `poll` calls per WhatsApp message, three quarters of the sender's system
/// calls (docs/benchmarks.md).
///
/// `@unchecked Sendable`: `multi`, `events`, `running` and `idle` are touched
/// only on the loop thread (curl handles are not thread-safe), except
/// `events.wake()`, which is only called under `inbox`'s lock while the loop has
/// not stopped.
final class CurlMulti<T: CurlTransfer>: @unchecked Sendable {
    /// Transfers submitted together, and where their results go once all are in.
    ///
    /// `@unchecked Sendable`: after `submit`, only the loop thread touches it.
    final class Group: @unchecked Sendable {
        let transfers: [T]
        var results: [(T.Result, Duration)?]
        var remaining: Int
        let completion: CheckedContinuation<[(T.Result, Duration)], Never>

        init(_ transfers: [T], completion: CheckedContinuation<[(T.Result, Duration)], Never>) {
            self.transfers = transfers
            self.results = Array(repeating: nil, count: transfers.count)
            self.remaining = transfers.count
            self.completion = completion
        }

        /// On the loop thread: the last result resumes the caller.
        func finish(_ index: Int, _ result: T.Result, since started: ContinuousClock.Instant) {
            results[index] = (result, ContinuousClock.now - started)
            remaining -= 1
            if remaining == 0 { completion.resume(returning: results.map { $0! }) }
        }
    }

    /// One transfer of a group.
    struct Item {
        let group: Group
        let index: Int
        var transfer: T { group.transfers[index] }

        func fail(_ reason: String, since started: ContinuousClock.Instant = .now) {
            group.finish(index, transfer.failure(reason), since: started)
        }
    }

    /// An added transfer: what it needs until it completes.
    private struct Running {
        let item: Item
        let state: AnyObject
        let started: ContinuousClock.Instant
    }

    private let multi: UnsafeMutableRawPointer
    private let events = CurlEvents()
    private let inbox = Mutex<(items: [Item], stopped: Bool)>(([], false))
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
        events.attach(to: multi)
        let thread = Thread { [self] in loop() }
        thread.name = label
        thread.start()
    }

    /// Runs the transfers side by side and returns when all have ended, in order,
    /// each with how long it took. One suspension for the lot.
    func run(_ transfers: [T]) async -> [(T.Result, Duration)] {
        guard !transfers.isEmpty else { return [] }
        return await withCheckedContinuation { submit(transfers, completion: $0) }
    }

    private func submit(_ transfers: [T], completion: CheckedContinuation<[(T.Result, Duration)], Never>) {
        let group = Group(transfers, completion: completion)
        let items = transfers.indices.map { Item(group: group, index: $0) }
        // The wake-up is sent under the lock: once the loop has seen `stopped`
        // (under the same lock) it frees the multi handle, and nobody may touch it.
        let accepted = inbox.withLock { box -> Bool in
            if box.stopped { return false }
            box.items.append(contentsOf: items)
            events.wake()
            return true
        }
        if !accepted {
            for item in items { item.fail("the client was shut down") }
        }
    }

    /// Ends the loop: transfers in flight or queued fail.
    func stop() {
        inbox.withLock { box in
            guard !box.stopped else { return }
            box.stopped = true
            events.wake()
        }
    }

    // MARK: - The loop thread

    private func loop() {
        var ready = [epoll_event](repeating: epoll_event(), count: 256)
        var stillRunning: Int32 = 0
        while true {
            let (incoming, stopped) = inbox.withLock { box in
                defer { box.items.removeAll(keepingCapacity: true) }
                return (box.items, box.stopped)
            }
            if stopped {
                shutDown(failing: incoming)
                return
            }
            // Adding a handle sets curl's timer to now: it starts on the timeout action below.
            for item in incoming { add(item) }
            // Returns when a socket is ready, curl's timer is due, or `wake()`
            // was called (a new transfer, or stop); at most a second.
            let count = epoll_wait(events.epoll, &ready, Int32(ready.count), events.waitMilliseconds(limit: 1000))
            for event in ready.prefix(Int(max(0, count))) {
                let socket = event.data.fd
                if socket == events.wakeup {
                    events.drainWakeups()
                    continue
                }
                guard events.isWatched(socket) else { continue }
                let flags = event.events
                var mask: Int32 = 0
                // A hang-up or an error is for curl to read (it finds the end, or the error).
                if flags & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { mask |= CURL_CSELECT_IN }
                if flags & EPOLLOUT.rawValue != 0 { mask |= CURL_CSELECT_OUT }
                if flags & EPOLLERR.rawValue != 0 { mask |= CURL_CSELECT_ERR }
                _ = curl_multi_socket_action(multi, socket, mask, &stillRunning)
            }
            if events.timerDue() {
                // Timeouts, and transfers just added.
                _ = curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &stillRunning)
            }
            collectFinished()
        }
    }

    private func add(_ item: Item) {
        guard let h = idle.popLast() ?? curl_easy_init() else {
            return item.fail("curl_easy_init failed")
        }
        curl_easy_reset(h)  // keeps the handle's open connection, if any
        _ = herald_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        let state = item.transfer.configure(h)
        guard curl_multi_add_handle(multi, h) == CURLM_OK else {
            curl_easy_cleanup(h)
            return item.fail("curl_multi_add_handle failed")
        }
        running[h] = Running(item: item, state: state, started: .now)
    }

    private func collectFinished() {
        var left: Int32 = 0
        while let message = curl_multi_info_read(multi, &left) {
            guard message.pointee.msg == CURLMSG_DONE, let h = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            curl_multi_remove_handle(multi, h)
            guard let r = running.removeValue(forKey: h) else {
                curl_easy_cleanup(h)
                continue
            }
            let result = r.item.transfer.result(of: h, code: code, state: r.state)
            // A handle whose transfer failed is not reused: start afresh.
            if code == CURLE_OK { idle.append(h) } else { curl_easy_cleanup(h) }
            r.item.group.finish(r.item.index, result, since: r.started)
        }
    }

    private func shutDown(failing queued: [Item]) {
        for (h, r) in running {
            curl_multi_remove_handle(multi, h)
            curl_easy_cleanup(h)
            r.item.fail("the client was shut down", since: r.started)
        }
        running.removeAll()
        for item in queued { item.fail("the client was shut down") }
        for h in idle { curl_easy_cleanup(h) }
        idle.removeAll()
        curl_multi_cleanup(multi)  // may still call the socket callback: close after
        events.close()
    }
}

/// curl_global_init must run once before any thread uses curl.
enum CurlGlobal {
    static let initialized: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        return true
    }()
}
