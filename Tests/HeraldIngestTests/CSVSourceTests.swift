import Foundation
import HeraldCore
import Testing

@testable import HeraldIngest

@Suite("CSV files as imports read them")
struct CSVSourceTests {
    @Test(
        "encoding and delimiter are detected from the first bytes",
        arguments: [
            (Array("id,name\n1,a\n".utf8), CSVSource.Encoding.utf8, ","), ([0xEF, 0xBB, 0xBF] + Array("id;jméno\n".utf8), .utf8, ";"),
            (Array("id\tname\n".utf8), .utf8, "\t"), (Array("\"a;b\",c,d\n".utf8), .utf8, ","), (Array("id\n".utf8), .utf8, ","),
            (Array("jm\u{e9}no;x\n".data(using: .windowsCP1250)!), .windows1250, ";"),
            // A UTF-8 character cut by the sample's end is still UTF-8.
            (Array("a,b\nž".utf8).dropLast(), .utf8, ","),
        ] as [([UInt8], CSVSource.Encoding, String)])
    func detection(bytes: [UInt8], encoding: CSVSource.Encoding, delimiter: String) {
        let d = CSVSource.detect(bytes)
        #expect(d.encoding == encoding && String(d.delimiter) == delimiter)
    }

    func source(_ bytes: [UInt8], batchSize: Int = 2, skipRows: Int = 0) async throws -> (CSVSource, [(cells: [String], line: Int)]) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let s = try await CSVSource.open(path: path, encoding: nil, delimiter: nil, batchSize: batchSize, skipRows: skipRows)
        var rows: [(cells: [String], line: Int)] = []
        while let batch = try await s.next() { rows += batch }
        return (s, rows)
    }

    @Test("rows keep their line numbers across quoted line breaks; BOM and blank lines are dropped; Windows-1250 reads as text")
    func rows() async throws {
        let text = "ID;Poznámka\r\n1;\"a\r\nb;c\"\r\n\r\n2;\"x\"\"y\"\r\n3;ž\r\n"
        let (s, rows) = try await source([0xEF, 0xBB, 0xBF] + Array(text.utf8))
        #expect(s.header == ["ID", "Poznámka"])
        #expect(rows.map(\.cells) == [["1", "a\r\nb;c"], ["2", "x\"y"], ["3", "ž"]])
        #expect(rows.map(\.line) == [2, 5, 6])
        let (w, cp) = try await source(Array("ID;Jméno\r\n1;Řehoř\r\n".data(using: .windowsCP1250)!))
        #expect(w.dialect.encoding == .windows1250 && cp.map(\.cells) == [["1", "Řehoř"]])
        let (_, resumed) = try await source(Array("id\n1\n2\n3\n".utf8), skipRows: 2)
        #expect(resumed.map(\.cells) == [["3"]] && resumed.map(\.line) == [4])
    }

    @Test(
        "UTF-16 with its byte order mark (Excel's \"Unicode Text\", tab-delimited) reads as text, in either byte order, a surrogate pair cut by a chunk's end included"
    )
    func utf16() async throws {
        let text = "ID\tJméno\r\n1\tŘehoř 😀\r\n2\t\"a\tb\"\r\n"
        let little: [UInt8] = [0xFF, 0xFE] + text.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let big: [UInt8] = [0xFE, 0xFF] + text.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        for bytes in [little, big] {
            #expect(CSVSource.detect(bytes) == CSVSource.Dialect(encoding: .utf16, delimiter: "\t"))
            let (s, rows) = try await source(bytes)
            #expect(s.header == ["ID", "Jméno"] && rows.map(\.cells) == [["1", "Řehoř 😀"], ["2", "a\tb"]] && rows.map(\.line) == [2, 3])
        }
        // Chunks of 4 bytes: the emoji's two code units fall into different chunks.
        let dir = FileManager.default.temporaryDirectory.path
        let from = "\(dir)/u16-\(UUID().uuidString)", to = from + ".utf8"
        defer { for p in [from, to] { try? FileManager.default.removeItem(atPath: p) } }
        let emoji: [UInt8] = [0xFF, 0xFE] + "a😀b".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        #expect(FileManager.default.createFile(atPath: from, contents: Data(emoji)))
        try CSVSource.transcodeUTF16(from: from, to: to, chunkBytes: 4)
        #expect(FileManager.default.contents(atPath: to).map { String(decoding: $0, as: UTF8.self) } == "a😀b")
        // A lone surrogate, or a last byte without its pair, is not UTF-16.
        for bad: [UInt8] in [[0xFF, 0xFE, 0x61, 0x00, 0x3D, 0xD8, 0x61, 0x00], [0xFF, 0xFE, 0x61, 0x00, 0x62]] {
            #expect(FileManager.default.createFile(atPath: from, contents: Data(bad)))
            #expect(throws: ImportError.self) { try CSVSource.transcodeUTF16(from: from, to: to, chunkBytes: 4) }
        }
    }

    @Test(
        "a quote never closed fails the file at the line it opens, after the rows before it, without holding the rest; rows up to the limit are read whole"
    )
    func rowLimit() async throws {
        func write(_ text: String) -> String {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)").path
            #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
            return path
        }
        let filler = (0..<20_000).map { "r\($0),x\n" }.joined()  // 200 KB after the open quote
        let path = write("id,note\n1,a\n2,b\n3,\"never closed\n" + filler)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try await CSVSource.open(path: path, encoding: nil, delimiter: nil, batchSize: 1000, maxRowBytes: 10_000)
        #expect(try await s.next()?.map(\.cells) == [["1", "a"], ["2", "b"]])
        do {
            _ = try await s.next()
            Issue.record("a row of 200 KB passed a 10 KB limit")
        } catch let error as ImportError {
            #expect("\(error)".contains("line 4") && "\(error)".contains("never closed"), "\(error)")
        }
        // Rows of up to the limit, across the reader's 64 KiB chunks, are read whole.
        let long = String(repeating: "y", count: 9_000)
        let rows = (0..<40).map { "\($0),\"\(long)\"\n" }.joined()
        let fine = write("id,note\n" + rows)
        defer { try? FileManager.default.removeItem(atPath: fine) }
        let f = try await CSVSource.open(path: fine, encoding: nil, delimiter: nil, batchSize: 1000, maxRowBytes: 10_000)
        #expect(try await f.next()?.map { $0.cells[1].count } == Array(repeating: 9_000, count: 40))
        #expect(try await f.next() == nil)
        // The header itself.
        let header = write("id,\"note\n" + filler)
        defer { try? FileManager.default.removeItem(atPath: header) }
        await #expect(throws: ImportError.self) { _ = try await CSVSource.open(path: header, encoding: nil, delimiter: nil, maxRowBytes: 10_000) }
    }

    @Test("an import stopped while the reader waits with batches read ahead ends the reader and frees the source, without a crash")
    func stopWhileReadingAhead() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(("id\n" + (0..<10_000).map { "r\($0)\n" }.joined()).utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        var source: CSVSource? = try await CSVSource.open(path: path, encoding: nil, delimiter: nil, batchSize: 10)
        weak let freed = source
        #expect(try await source?.next()?.count == 10)
        // The reader fills its read-ahead and then waits for room. (A
        // DispatchSemaphore there trapped in libdispatch when the source was
        // released with fewer signals than it started with: the ingestor died
        // when an import stopped on a Redis timeout.)
        try await Task.sleep(for: .milliseconds(300))
        source?.stop()
        source = nil
        let deadline = ContinuousClock.now + .seconds(10)
        while freed != nil && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(freed == nil, "the reader thread still holds the source after stop()")
    }

    /// A batch ends at its row count or at `maxBatchFields` fields: rows of
    /// many empty fields once made batches of gigabytes.
    @Test("rows of 100,000 fields each come in batches of at most 3, not 1,000; every row and line kept")
    func wideRows() async throws {
        let wide = String(repeating: ",", count: 99_999)
        var text = "id\n"
        for i in 0..<10 { text += "w\(i)\(wide)\n" }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)))
        let s = try await CSVSource.open(path: path, encoding: .utf8, delimiter: ",", batchSize: 1000)
        var sizes: [Int] = []
        var rows: [(cells: [String], line: Int)] = []
        while let batch = try await s.next() {
            sizes.append(batch.count)
            rows += batch
        }
        #expect(sizes == [3, 3, 3, 1], "\(sizes)")
        #expect(rows.map(\.line) == Array(2...11) && rows.allSatisfy { $0.cells.count == 100_000 })
        #expect(rows.map { $0.cells[0] } == (0..<10).map { "w\($0)" })
    }

    @Test("a file without a header, or not in its encoding, is refused with the reason")
    func refusals() async throws {
        // An empty file is named as such, not by the CSV reader's error case.
        let empty = await #expect(throws: ImportError.self) { _ = try await source([]) }
        #expect(empty?.description == "the file is empty: it needs a header row, then a row per contact")
        // A file that fails its reads (a directory opens, and every read fails
        // with EISDIR) is not taken for an empty one.
        let unreadable = await #expect(throws: ImportError.self) {
            _ = try await CSVSource.open(path: FileManager.default.temporaryDirectory.path, encoding: .utf8, delimiter: ",")
        }
        #expect(unreadable?.description.hasPrefix("the uploaded file cannot be read") == true, "\(unreadable?.description ?? "")")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("csv-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(Array("id\n1\n".utf8) + [0xC3, 0x28, 0x0A])))
        let s = try await CSVSource.open(path: path, encoding: .utf8, delimiter: nil)
        await #expect(throws: ImportError.self) { while try await s.next() != nil {} }
    }
}
