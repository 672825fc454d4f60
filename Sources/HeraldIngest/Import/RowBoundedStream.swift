import Foundation

/// The file as CSV.swift reads it, with a bound on how far it may read past the
/// last row it returned.
///
/// CSV.swift keeps a whole field in memory until its closing quote, and has no
/// limit of its own: one quote never closed makes the rest of the file one cell
/// (an upload of `imports.max_bytes`, a gigabyte by default, held two or three
/// times over). Past `limit` bytes beyond the last row's end (`rowEnded`), the
/// stream fails instead; `CSVSource` reports the line and the likely cause.
/// CSV.swift then returns what it read of that row as a row: the reader must
/// check `overLimit` after each row, and drop the row when it is set.
///
/// Used by one thread only: the initializer's (for the header) and then the
/// reader thread's, never both at once.
final class RowBoundedStream: InputStream {
    /// A row over this many bytes fails the file.
    let limit: Int
    private let inner: InputStream
    private var handedOut = 0
    private var rowEnd = 0
    /// Set once a row ran past `limit`; every read fails from then on.
    private(set) var overLimit = false
    /// Set when the file itself failed a read (an I/O error, not its end).
    /// CSV.swift takes any failed read for the end of the file, so without
    /// this a read error would end an import early as if it were done.
    private(set) var readFailed = false

    /// Wraps `inner`.
    init(_ inner: InputStream, limit: Int) {
        self.inner = inner
        self.limit = limit
        super.init(data: Data())
    }

    /// The reader returned a row: the count starts again from what it has read
    /// so far.
    func rowEnded() { rowEnd = handedOut }

    /// CSV.swift asks for more only once it has used every byte handed out, so
    /// a request with more than `limit` handed out since the last row's return
    /// means the row being read is longer than that: no row within the limit is
    /// refused. It reads 64 KiB at a time, so at most `limit` plus twice that is held.
    override func read(_ buffer: UnsafeMutablePointer<UInt8>, maxLength len: Int) -> Int {
        if handedOut - rowEnd > limit { overLimit = true }
        guard !overLimit else { return -1 }
        let n = inner.read(buffer, maxLength: len)
        if n > 0 { handedOut += n }
        if n < 0 { readFailed = true }
        return n
    }

    override var hasBytesAvailable: Bool { !overLimit && inner.hasBytesAvailable }
    override func open() { inner.open() }
    override func close() { inner.close() }
    override var streamStatus: Stream.Status { overLimit ? .error : inner.streamStatus }
    override var streamError: (any Error)? { overLimit ? RowTooLong(limit: limit) : inner.streamError }

    /// A row longer than the limit.
    struct RowTooLong: Error, CustomStringConvertible {
        let limit: Int
        var description: String { "a row is longer than \(limit >> 10) KiB (a quote that is never closed?)" }
    }
}
