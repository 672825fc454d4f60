import Foundation
import HeraldCore

/// A WhatsApp phone number Herald may send from, besides the default one of
/// `sender.whatsapp_phone_number_id`: one file per number,
/// `config/accounts/whatsapp/<name>.yaml`, whose name campaigns' send steps use
/// (`account: <name>`).
///
/// ```yaml
/// phone_number_id: "106540352242922"
/// token_file: /run/secrets/whatsapp_sales      # or token_env: HERALD_WHATSAPP_SALES_TOKEN
/// per_second: 80        # Meta's throughput for the number: 80, 1000 when upgraded, 20 for a coexistence number
/// portfolio: acme       # whose unique-recipient tier it shares (default: its phone number id)
/// ```
///
/// The token is never written in the file itself: a file that holds secrets is
/// one more place to leak them, and a secret file or variable is what compose and
/// Kubernetes mount.
public struct WhatsAppAccount: Sendable, CustomStringConvertible {
    /// The name campaigns use, from the file name.
    public let name: String
    /// Meta's id of the phone number (the URL's `{phone-number-id}`).
    public let phoneNumberId: String
    /// The Cloud API access token (a secret: never printed or logged).
    public let token: String
    /// Messages per second from this number.
    public let perSecond: Int
    /// The business portfolio whose messaging tier the number counts against
    /// (`heraldctl limits set-tier --account <portfolio>`).
    public let portfolio: String

    /// The account without its token.
    public var description: String { "WhatsApp account \(name) (phone number id \(phoneNumberId), \(perSecond)/s, portfolio \(portfolio))" }

    /// The highest `per_second` taken: above Meta's upgraded throughput (1,000) with room to spare.
    public static let maxPerSecond = 10_000

    /// Every account file in `directory/whatsapp` (none when that folder does not
    /// exist), tokens read from the files or variables they name.
    /// - Parameter environment: where `token_env` is looked up (the process's environment).
    /// - Throws: `TemplateError` naming the file and the field for anything
    ///   wrong, never quoting a token.
    public static func load(directory: String, environment: [String: String]) throws -> [WhatsAppAccount] {
        let dir = "\(directory)/whatsapp"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { throw TemplateError("\(dir) is not a directory") }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".yaml") }.sorted()
        var accounts: [WhatsAppAccount] = []
        for file in files {
            let path = "\(dir)/\(file)"
            let name = String(file.dropLast(5))
            guard AccountName.isValid(name) else { throw TemplateError("\(path): \(AccountName.rule)") }
            accounts.append(try account(name: name, path: path, text: try String(contentsOfFile: path, encoding: .utf8), environment: environment))
        }
        var seen: [String: String] = [:]
        for a in accounts {
            if let other = seen[a.phoneNumberId] { throw TemplateError("\(dir): \(other).yaml and \(a.name).yaml name the same phone_number_id") }
            seen[a.phoneNumberId] = a.name
        }
        return accounts
    }

    /// One account from its file's `text`.
    static func account(name: String, path: String, text: String, environment: [String: String]) throws -> WhatsAppAccount {
        let yaml: JSONValue?
        do { yaml = try YAMLValue.document(text) } catch { throw TemplateError("\(path) is \(error.reason)") }
        guard let o = yaml?.objectValue else {
            throw TemplateError("\(path): must be a mapping of phone_number_id, token_file or token_env, per_second, portfolio")
        }
        let known: Set = ["phone_number_id", "token_file", "token_env", "per_second", "portfolio"]
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw TemplateError("\(path): unknown field '\(unknown)' (one of \(known.sorted().joined(separator: ", ")))")
        }
        guard let id = o["phone_number_id"]?.scalarText, !id.isEmpty, id.utf8.count <= 32, id.utf8.allSatisfy({ (48...57).contains($0) }) else {
            throw TemplateError("\(path): phone_number_id must be Meta's numeric id of the phone number, in quotes")
        }
        var perSecond = 80
        if let p = o["per_second"] {
            guard case .int(let n) = p, (1...Int64(maxPerSecond)).contains(n) else {
                throw TemplateError("\(path): per_second must be a whole number from 1 to \(maxPerSecond)")
            }
            perSecond = Int(n)
        }
        let portfolio = o["portfolio"]?.scalarText ?? id
        guard AccountName.isValid(portfolio) else { throw TemplateError("\(path): portfolio: \(AccountName.rule)") }
        let token: String
        switch (o["token_file"]?.stringValue, o["token_env"]?.stringValue) {
        case (let file?, nil):
            guard let data = FileManager.default.contents(atPath: file) else { throw TemplateError("\(path): token_file \(file) cannot be read") }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw TemplateError("\(path): token_file \(file) is empty") }
        case (nil, let variable?):
            guard let value = environment[variable]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
                throw TemplateError("\(path): token_env names \(variable), which is not set or empty")
            }
            token = value
        default:
            throw TemplateError("\(path): needs exactly one of token_file and token_env (the token itself is never written in the file)")
        }
        guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            // It goes into an HTTP header: a line break there would add headers of the file's choosing.
            throw TemplateError("\(path): the token holds spaces or control characters")
        }
        return WhatsAppAccount(name: name, phoneNumberId: id, token: token, perSecond: perSecond, portfolio: portfolio)
    }
}
