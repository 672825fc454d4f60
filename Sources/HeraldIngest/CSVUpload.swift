import Foundation
import HeraldCore
import Hummingbird
import Synchronization
import _NIOFileSystem

/// A CSV request body saved to a file (an import's, a broadcast's recipients'),
/// streamed, never past a size limit, so a huge upload stops at the limit
/// instead of filling the memory or the disk.
enum CSVUpload {
    /// Saves `request`'s body to a new file in `directory`; its path.
    /// - Throws: `ResponseError` with 413 past `maxBytes` (`imports.max_bytes`).
    static func save(_ request: Request, context: BasicRequestContext, directory: String, maxBytes: Int) async throws -> String {
        let tooLarge = ResponseError(
            APISupport.problem(.contentTooLarge, "the CSV is larger than \(maxBytes) bytes (imports.max_bytes)"))
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBytes { throw tooLarge }
        let path = "\(directory)/herald-import-\(UUID().uuidString)"
        let body = LimitedBody(request.body, maxBytes: maxBytes)
        do {
            try await FileIO().writeFile(contents: body, path: path, context: context)
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            // The file system layer may wrap the body's error: the flag says what happened.
            if body.exceeded.withLock({ $0 }) { throw tooLarge }
            // A full spool directory once answered 503 "the import store is
            // unavailable", which sent operators to Redis. The partial file is gone.
            if Self.isNoSpace(error) {
                throw ResponseError(
                    APISupport.problem(
                        HTTPResponse.Status(code: 507),
                        "no space left in imports.dir for this upload; nothing was imported (free space there, or point imports.dir at a larger disk)"))
            }
            throw error
        }
        return path
    }

    /// Checks at start-up that the ingestor can spool uploads to `directory`
    /// (`imports.dir`). Without it a missing or read-only directory answered
    /// every import and every recipient CSV with 503 "retry", which no retry
    /// could mend.
    /// - Throws: `SpoolDirectoryError` naming `imports.dir` and what is wrong.
    static func checkDirectory(_ directory: String) throws(SpoolDirectoryError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw SpoolDirectoryError(directory: directory, problem: "does not exist")
        }
        guard isDirectory.boolValue else { throw SpoolDirectoryError(directory: directory, problem: "is not a directory") }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw SpoolDirectoryError(directory: directory, problem: "is not writable by this process")
        }
    }

    /// Whether `error`, or an error it was caused by, is the file system's ENOSPC.
    static func isNoSpace(_ error: any Error) -> Bool {
        var next: (any Error)? = error
        for _ in 0..<8 {
            switch next {
            case let e as FileSystemError.SystemCallError: return e.errno.rawValue == ENOSPC
            case let e as FileSystemError: next = e.cause
            default: return false
            }
        }
        return false
    }
}

/// A body over `maxBytes`.
struct BodyTooLarge: Error {}

/// A request body that ends in `BodyTooLarge` past `maxBytes`, so a huge upload
/// stops at the limit instead of filling the disk.
struct LimitedBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let maxBytes: Int
    /// Set when the body went past `maxBytes`.
    let exceeded = Flag()
    final class Flag: Sendable {
        let value = Mutex(false)
        func withLock<R>(_ body: (inout Bool) -> R) -> R { value.withLock { body(&$0) } }
    }
    init(_ base: Base, maxBytes: Int) {
        self.base = base
        self.maxBytes = maxBytes
    }
    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        var left: Int
        let exceeded: Flag
        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            left -= buffer.readableBytes
            if left < 0 {
                exceeded.withLock { $0 = true }
                throw BodyTooLarge()
            }
            return buffer
        }
    }
    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), left: maxBytes, exceeded: exceeded) }
}

/// `imports.dir` cannot take uploads: the ingestor does not start.
struct SpoolDirectoryError: Error, CustomStringConvertible {
    let directory: String
    let problem: String
    var description: String {
        "imports.dir '\(directory)' \(problem): set imports.dir (HERALD_IMPORTS_DIR) to a directory the ingestor can write, with room for the CSV uploads it takes at once"
    }
}
