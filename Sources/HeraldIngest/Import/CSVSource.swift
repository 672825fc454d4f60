@preconcurrency import CSV
import Foundation
import HeraldCore
import Synchronization

/// A CSV file as an import reads it: its encoding and delimiter (given, or
/// detected from its first bytes), its header, and its rows in batches, each
/// row with the line it starts on.
///
/// Parsing is CSV.swift's (quotes, line breaks in fields, BOM). It reads a
/// Foundation `InputStream`, which blocks, so it runs on a thread of its own
/// and hands batches over (`next()`), never on Swift's cooperative pool.
final class CSVSource: Sendable {
    /// The text encodings imports take.
    enum Encoding: String, Sendable, CaseIterable {
        case utf8 = "utf-8"
        case windows1250 = "windows-1250"
        /// With a byte order mark (little-endian without one): what Excel's
        /// "Unicode Text" writes, tab-delimited.
        case utf16 = "utf-16"
    }

    /// How the file is read.
    struct Dialect: Sendable, Equatable {
        var encoding: Encoding
        var delimiter: UnicodeScalar
    }

    /// Rows of a batch: cells and the line each starts on.
    typealias Batch = [(cells: [String], line: Int)]

    let dialect: Dialect
    let header: [String]
    private let state = Mutex<State>(State())
    /// Batches the reader may be ahead of `next()`.
    private let space = ReadAhead(places: 2)

    private struct State {
        var ready: [Batch] = []
        var waiter: CheckedContinuation<Batch?, any Error>?
        var finished = false
        var failure: ImportError?
        var stopped = false
    }

    /// The longest row read, in bytes: twice the largest event the intake takes
    /// (`EventIntake.maxEventBytes`), so a row the importer would refuse as too
    /// large is still read and reported by its line, while a quote never
    /// closed fails the file there instead of filling memory with the rest of it.
    static let maxRowBytes = 2 * EventIntake.maxEventBytes

    /// The most fields a batch holds: a batch ends at `batchSize` rows or once
    /// its rows hold this many fields. Each field is a `String` of 16 bytes
    /// even when empty, so rows of many empty fields (a 1 MiB row of commas is
    /// a million of them) were gigabytes a batch: 300 rows of 300,000 empty
    /// fields (a 90 MB file) took the ingestor from 51 MB to 1.47 GB, and a
    /// gigabyte's upload of such rows could have exhausted its memory. Now a
    /// batch holds about 4 MB of fields besides their text: 250 rows of 1,000
    /// columns, or all 1,000 rows of an 8-column file.
    static let maxBatchFields = 250_000

    /// The rows read so far and the bytes of the file, for progress.
    let progress = Mutex<(rows: Int, bytes: Int)>((0, 0))

    /// Opens `path` (UTF-8, UTF-16 or Windows-1250; a file in either of the
    /// latter is first turned into UTF-8 beside it) and reads its header.
    /// - Parameters:
    ///   - encoding, delimiter: nil to detect them.
    ///   - skipRows: data rows already imported (a resumed import), read but not handed over.
    /// - Throws: `ImportError` naming what is wrong with the file.
    ///   - maxRowBytes: a longer row (with its line breaks) fails the file (`RowBoundedStream`).
    init(
        path: String, encoding: Encoding?, delimiter: UnicodeScalar?, batchSize: Int = 1000, skipRows: Int = 0, maxRowBytes: Int = CSVSource.maxRowBytes
    ) throws(ImportError) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw ImportError("the uploaded file cannot be read") }
        let head = (try? handle.read(upToCount: 1 << 20)) ?? Data()
        try? handle.close()
        let detected = Self.detect(Array(head))
        let dialect = Dialect(encoding: encoding ?? detected.encoding, delimiter: delimiter ?? detected.delimiter)
        var readPath = path
        switch dialect.encoding {
        case .utf8: break
        case .windows1250:
            readPath = path + ".utf8"
            try Self.transcode1250(from: path, to: readPath)
        case .utf16:
            readPath = path + ".utf8"
            try Self.transcodeUTF16(from: path, to: readPath)
        }
        guard let file = InputStream(fileAtPath: readPath) else { throw ImportError("the uploaded file cannot be read") }
        let stream = RowBoundedStream(file, limit: maxRowBytes)
        let reader: CSVReader
        do {
            reader = try CSVReader(stream: stream, hasHeaderRow: true, delimiter: dialect.delimiter)
            // CSV.swift hands back a row cut by the limit as if whole.
            guard !stream.overLimit else { throw RowBoundedStream.RowTooLong(limit: maxRowBytes) }
        } catch {
            if readPath != path { try? FileManager.default.removeItem(atPath: readPath) }
            if stream.overLimit { throw ImportError("the header row: \(RowBoundedStream.RowTooLong(limit: maxRowBytes))") }
            if stream.readFailed { throw ImportError("the uploaded file cannot be read: \(stream.streamError.map { "\($0)" } ?? "a read failed")") }
            // The reader's own word for an empty file is `cannotReadHeaderRow`.
            if case CSVError.cannotReadHeaderRow = error { throw ImportError("the file is empty: it needs a header row, then a row per contact") }
            throw ImportError("the file is not CSV: \(error)")
        }
        stream.rowEnded()
        guard let header = reader.headerRow, !header.isEmpty, header != [""] else { throw ImportError("the file has no header row") }
        self.dialect = dialect
        self.header = header.map { $0.trimmingCharacters(in: .whitespaces) }
        let total = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
        progress.withLock { $0.bytes = total }
        // Lines of the header: 1 plus its fields' line breaks.
        let firstLine = 2 + header.reduce(0) { $0 + $1.utf8.filter { $0 == 0x0A }.count }
        let owned = ReaderBox(reader, stream), cleanup = readPath == path ? nil : readPath
        let thread = Thread { [self] in
            self.read(owned.reader, owned.stream, firstLine: firstLine, batchSize: batchSize, skipRows: skipRows, cleanup: cleanup)
        }
        thread.name = "csv-import"
        thread.start()
    }

    /// `init` on a thread of its own: opening reads the file's start, and a
    /// Windows-1250 file is converted whole, neither of which may block the
    /// cooperative pool.
    static func open(
        path: String, encoding: Encoding?, delimiter: UnicodeScalar?, batchSize: Int = 1000, skipRows: Int = 0, maxRowBytes: Int = CSVSource.maxRowBytes
    ) async throws -> CSVSource {
        try await withCheckedThrowingContinuation { c in
            let thread = Thread {
                c.resume(
                    with: Result { () throws(ImportError) in
                        try CSVSource(
                            path: path, encoding: encoding, delimiter: delimiter, batchSize: batchSize, skipRows: skipRows, maxRowBytes: maxRowBytes)
                    })
            }
            thread.name = "csv-open"
            thread.start()
        }
    }

    /// The next batch; nil at the end of the file.
    /// - Throws: `ImportError` when the file stops being CSV midway.
    func next() async throws -> Batch? {
        try await withCheckedThrowingContinuation { c in
            let (result, took): (Result<Batch?, any Error>?, Bool) = state.withLock { s in
                if !s.ready.isEmpty { return (.success(s.ready.removeFirst()), true) }
                if let failure = s.failure { return (.failure(failure), false) }
                if s.finished { return (.success(nil), false) }
                s.waiter = c
                return (nil, false)
            }
            if took { space.free() }
            if let result { c.resume(with: result) }
        }
    }

    /// Stops the reader thread (the import ended early).
    func stop() {
        state.withLock { $0.stopped = true }
        space.close()
    }

    private func read(_ reader: CSVReader, _ stream: RowBoundedStream, firstLine: Int, batchSize: Int, skipRows: Int, cleanup: String?) {
        defer { if let cleanup { try? FileManager.default.removeItem(atPath: cleanup) } }
        var line = firstLine
        var batch: Batch = []
        var fields = 0
        var index = 0
        while let row = reader.next() {
            if stream.overLimit { break }  // the row was cut: it is not one
            stream.rowEnded()
            if state.withLock({ $0.stopped }) { return }
            let start = line
            line += 1 + row.reduce(0) { $0 + $1.utf8.filter { $0 == 0x0A }.count }
            index += 1
            progress.withLock { $0.rows = index }
            if index <= skipRows || row == [""] { continue }  // resumed past it, or a blank line
            batch.append((row, start))
            fields += row.count
            if batch.count == batchSize || fields >= Self.maxBatchFields {
                hand(batch)
                batch = []
                fields = 0
            }
        }
        if !batch.isEmpty { hand(batch) }
        // CSV.swift reports the end of a file as `cannotReadFile` on Linux:
        // Foundation's `InputStream.hasBytesAvailable` stays true until a read
        // returns nothing, and it takes that empty read for a failure. The file
        // is one this process just wrote, so that error means the end; any other
        // (a byte sequence that is not the encoding) is the file's fault.
        let failure: ImportError? =
            if stream.overLimit {
                ImportError("line \(line): \(RowBoundedStream.RowTooLong(limit: stream.limit)); the rows before it were read")
            } else if stream.readFailed {
                ImportError("line \(line): the uploaded file could not be read further; the rows before it were read")
            } else {
                switch reader.error {
                case nil, CSVError.cannotReadFile?: nil
                case let error?: ImportError("the file stops being CSV near line \(line): \(error)")
                }
            }
        let waiter: CheckedContinuation<Batch?, any Error>? = state.withLock { s in
            s.finished = true
            s.failure = failure
            defer { s.waiter = nil }
            return s.waiter
        }
        if let failure { waiter?.resume(throwing: failure) } else { waiter?.resume(returning: nil) }
    }

    private func hand(_ batch: Batch) {
        space.take()
        let waiter: CheckedContinuation<Batch?, any Error>? = state.withLock { s in
            if s.stopped { return nil }
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            s.ready.append(batch)
            return nil
        }
        if let waiter {
            space.free()  // handed straight over: it takes no place in the queue
            waiter.resume(returning: batch)
        }
    }

    /// The encoding (UTF-16 when the file starts with its byte order mark; UTF-8
    /// when the first megabyte is valid UTF-8, with or without BOM; else
    /// Windows-1250) and the delimiter (the most frequent of `,` `;` and tab on
    /// the header line, outside quotes; `,` when none).
    static func detect(_ head: [UInt8]) -> Dialect {
        if head.starts(with: [0xFF, 0xFE]) || head.starts(with: [0xFE, 0xFF]) {
            // The delimiters and line breaks are ASCII: one byte of each code unit
            // is theirs, the other 0, so the count below sees them as in UTF-8.
            let d = detect(head.filter { $0 != 0 && $0 != 0xFF && $0 != 0xFE })
            return Dialect(encoding: .utf16, delimiter: d.delimiter)
        }
        var bytes = head[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        // A multi-byte character cut by the megabyte's end is not an error.
        var valid = String(validating: bytes, as: UTF8.self) != nil
        if !valid {
            for cut in 1...3 where bytes.count > cut {
                if String(validating: bytes.dropLast(cut), as: UTF8.self) != nil {
                    valid = true
                    break
                }
            }
        }
        var counts: [UInt8: Int] = [UInt8(ascii: ","): 0, UInt8(ascii: ";"): 0, 0x09: 0]
        var quoted = false
        for b in bytes {
            if b == UInt8(ascii: "\"") { quoted.toggle() }
            if !quoted && (b == 0x0A || b == 0x0D) { break }
            if !quoted, counts[b] != nil { counts[b]! += 1 }
        }
        let best = counts.max { ($0.value, $0.key == UInt8(ascii: ",") ? 1 : 0) < ($1.value, $1.key == UInt8(ascii: ",") ? 1 : 0) }!
        return Dialect(encoding: valid ? .utf8 : .windows1250, delimiter: UnicodeScalar(best.value > 0 ? best.key : UInt8(ascii: ",")))
    }

    /// Windows-1250 to UTF-8, a megabyte at a time: a single-byte encoding, so no
    /// character is cut at a chunk's end.
    static func transcode1250(from: String, to: String) throws(ImportError) {
        try transcode(from: from, to: to, name: "Windows-1250", chunkBytes: 1 << 20) { chunk throws(ImportError) in
            guard let text = String(data: chunk, encoding: .windowsCP1250) else { throw ImportError("the file is neither UTF-8 nor Windows-1250") }
            return text
        }
    }

    /// UTF-16 to UTF-8, `chunkBytes` at a time. The byte order mark says the
    /// order (little-endian without one, as Windows writes it) and is dropped; a
    /// surrogate pair cut by a chunk's end is carried to the next chunk.
    static func transcodeUTF16(from: String, to: String, chunkBytes: Int = 1 << 20) throws(ImportError) {
        var bigEndian: Bool?
        var carried: [UInt16] = []
        var pendingByte: UInt8?
        try transcode(from: from, to: to, name: "UTF-16", chunkBytes: chunkBytes & ~1) { chunk throws(ImportError) in
            var bytes = Array(chunk)
            if let b = pendingByte { bytes.insert(b, at: 0) }
            pendingByte = bytes.count % 2 == 1 ? bytes.removeLast() : nil
            if bigEndian == nil {
                bigEndian = bytes.starts(with: [0xFE, 0xFF])
                if bytes.starts(with: [0xFE, 0xFF]) || bytes.starts(with: [0xFF, 0xFE]) { bytes.removeFirst(2) }
            }
            var units = carried
            units.reserveCapacity(carried.count + bytes.count / 2)
            for i in stride(from: 0, to: bytes.count, by: 2) {
                units.append(bigEndian == true ? UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]) : UInt16(bytes[i + 1]) << 8 | UInt16(bytes[i]))
            }
            carried = []
            if let last = units.last, (0xD800...0xDBFF).contains(last) { carried = [units.removeLast()] }
            guard let text = String(validating: units, as: UTF16.self) else { throw ImportError("the file starts as UTF-16 but is not UTF-16 throughout") }
            return text
        }
        guard carried.isEmpty, pendingByte == nil else { throw ImportError("the file starts as UTF-16 but ends in the middle of a character") }
    }

    /// Writes `from` as UTF-8 to `to`, `chunkBytes` at a time, each chunk turned
    /// into text by `convert` (which carries what a chunk's end cuts).
    private static func transcode(
        from: String, to: String, name: String, chunkBytes: Int, _ convert: (Data) throws(ImportError) -> String
    ) throws(ImportError) {
        guard let input = FileHandle(forReadingAtPath: from), FileManager.default.createFile(atPath: to, contents: nil),
            let output = FileHandle(forWritingAtPath: to)
        else { throw ImportError("the uploaded file cannot be converted from \(name)") }
        defer {
            try? input.close()
            try? output.close()
        }
        // The throwing calls, not `write(_:)` and `try?`: Foundation's
        // `FileHandle.write(_:)` traps when the write fails, and an
        // `imports.dir` that filled up during the conversion once stopped the
        // ingestor (`ImportTests.conversionDiskFull`); a failed read must not
        // pass for the end of the file. A conversion that fails leaves no part
        // of its file behind.
        do throws(ImportError) {
            while true {
                let chunk: Data
                do {
                    guard let read = try input.read(upToCount: chunkBytes), !read.isEmpty else { break }
                    chunk = read
                } catch {
                    throw ImportError("the uploaded file cannot be read: \(error.localizedDescription)")
                }
                let text = try convert(chunk)
                do {
                    try output.write(contentsOf: Data(text.utf8))
                } catch {
                    throw ImportError("the file converted from \(name) cannot be written to imports.dir: \(error.localizedDescription)")
                }
            }
        } catch {
            try? FileManager.default.removeItem(atPath: to)
            throw error
        }
    }
}

/// Places for batches read ahead: the reader thread takes one per batch and
/// waits while there is none; `next()` frees one. Not a `DispatchSemaphore`:
/// libdispatch traps when a semaphore is released holding fewer signals than
/// it was created with, which an import stopped while its reader waited left,
/// and the trap killed the ingestor (`CSVSourceTests.stopWhileReadingAhead`).
/// The reader is a thread of its own, so it may block here.
private final class ReadAhead: @unchecked Sendable {
    // `places` and `closed` are guarded by `condition`.
    private let condition = NSCondition()
    private var places: Int
    private var closed = false

    init(places: Int) { self.places = places }

    /// Waits for a place and takes it; returns at once after `close()`.
    func take() {
        condition.lock()
        defer { condition.unlock() }
        while places == 0 && !closed { condition.wait() }
        if !closed { places -= 1 }
    }

    /// Gives a place back.
    func free() {
        condition.lock()
        places += 1
        condition.signal()
        condition.unlock()
    }

    /// Lets the reader go on without places (the import stopped).
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Hands the reader and its stream to the thread. `@unchecked`: the initializer
/// reads the header and never touches either again; from then on only the thread does.
private final class ReaderBox: @unchecked Sendable {
    let reader: CSVReader
    let stream: RowBoundedStream
    init(_ reader: CSVReader, _ stream: RowBoundedStream) {
        self.reader = reader
        self.stream = stream
    }
}
