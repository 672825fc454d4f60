import Foundation
import HeraldCore
import Testing

@testable import HeraldChannels

/// The sender's registry of providers by channel and account, and the account
/// files that add WhatsApp numbers to it.
@Suite("Provider registry and WhatsApp account files")
struct ProviderRegistryTests {
    /// A provider that answers with its own name, to tell which one was picked.
    struct Named: ChannelProvider {
        let name: String
        func plan(_ request: SendRequest, profile: ContactProfile?) async throws -> SendPlan { .finish(.sent, name) }
    }

    func request(_ channel: Channel, account: String = "") -> SendRequest {
        var r = SendRequest(id: "i:s:1", contactId: "ada", campaignId: "c", channel: channel, template: "t")
        r.account = account
        return r
    }

    func pickedName(_ registry: ProviderRegistry, _ request: SendRequest) async throws -> String? {
        guard case .success(let entry) = registry.entry(for: request), case .finish(_, let name) = try await entry.provider.plan(request, profile: nil)
        else { return nil }
        return name
    }

    @Test("a request without an account gets the channel's default; a named one its own, with its own rate window and label")
    func lookup() async throws {
        var r = ProviderRegistry()
        r.register(Named(name: "default"), for: .whatsapp, perSecond: 80, label: "100")
        r.register(Named(name: "sales"), for: .whatsapp, account: "sales", perSecond: 1000, label: "200")
        r.register(Named(name: "mail"), for: .email, perSecond: nil, label: "smtp:25")
        #expect(try await pickedName(r, request(.whatsapp)) == "default")
        #expect(try await pickedName(r, request(.whatsapp, account: "sales")) == "sales")
        #expect(try await pickedName(r, request(.email)) == "mail")
        guard case .success(let sales) = r.entry(for: request(.whatsapp, account: "sales")), case .success(let main) = r.entry(for: request(.whatsapp))
        else { Issue.record("not registered"); return }
        // Each number has its own throughput window in Redis; the default keeps the channel's name.
        #expect(sales.rateName == "whatsapp:sales" && sales.perSecond == 1000 && main.rateName == "whatsapp" && main.perSecond == 80)
        #expect(r.label(request(.whatsapp, account: "sales")) == "200" && r.label(request(.email)) == "smtp:25" && r.label(request(.sms)) == "")
        #expect(r.accounts(of: .whatsapp) == ["sales"])
    }

    @Test("an account or channel nobody registered ends the message with a reason naming it")
    func misses() {
        var r = ProviderRegistry()
        r.register(Named(name: "default"), for: .whatsapp, perSecond: nil, label: "")
        guard case .failure(let account) = r.entry(for: request(.whatsapp, account: "nope")), case .failure(let channel) = r.entry(for: request(.sms))
        else { Issue.record("found a provider"); return }
        #expect(account.description == "no whatsapp account 'nope' is configured (config/accounts/whatsapp/nope.yaml)")
        #expect(channel.description == "no provider is registered for the sms channel")
    }

    /// A fresh accounts directory holding `files` under `whatsapp/`.
    func directory(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("herald-accounts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("whatsapp"), withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: dir.appendingPathComponent("whatsapp/\(name)"), atomically: true, encoding: .utf8) }
        return dir.path
    }

    @Test("account files: token from a variable or a secret file, throughput and portfolio; no folder is no accounts")
    func loads() throws {
        let secret = FileManager.default.temporaryDirectory.appendingPathComponent("herald-wa-token-\(UUID().uuidString)")
        try "file-token\n".write(to: secret, atomically: true, encoding: .utf8)
        let dir = try directory([
            "sales.yaml": "phone_number_id: \"111\"\ntoken_env: WA_SALES\nper_second: 1000\nportfolio: acme\n",
            "support.yaml": "phone_number_id: \"222\"\ntoken_file: \(secret.path)\n",
            "notes.txt": "not an account",
        ])
        let accounts = try WhatsAppAccount.load(directory: dir, environment: ["WA_SALES": "env-token"])
        #expect(accounts.map(\.name) == ["sales", "support"])
        #expect(accounts.map(\.phoneNumberId) == ["111", "222"] && accounts.map(\.token) == ["env-token", "file-token"])
        #expect(accounts.map(\.perSecond) == [1000, 80] && accounts.map(\.portfolio) == ["acme", "222"])
        #expect(!accounts[0].description.contains("env-token"), "the token is never printed")
        #expect(try WhatsAppAccount.load(directory: "/nonexistent-\(UUID().uuidString)", environment: [:]).isEmpty)
    }

    @Test(
        "a bad account file stops the sender at start-up with the file and field named, never the token",
        arguments: [
            ("a.yaml", "phone_number_id: \"1\"\ntoken: inline-secret\n", "unknown field 'token'"),
            ("a.yaml", "phone_number_id: \"1\"\n", "needs exactly one of token_file and token_env"),
            ("a.yaml", "phone_number_id: \"1\"\ntoken_env: A\ntoken_file: /x\n", "needs exactly one of token_file and token_env"),
            ("a.yaml", "phone_number_id: \"1\"\ntoken_env: UNSET\n", "token_env names UNSET, which is not set or empty"),
            ("a.yaml", "phone_number_id: \"1\"\ntoken_env: BROKEN\n", "the token holds spaces or control characters"),
            ("a.yaml", "phone_number_id: \"1\"\ntoken_file: /nonexistent\n", "token_file /nonexistent cannot be read"),
            ("a.yaml", "phone_number_id: \"+420 601\"\ntoken_env: A\n", "phone_number_id must be Meta's numeric id"),
            ("a.yaml", "phone_number_id: \"1\"\ntoken_env: A\nper_second: 99999999999999999999\n", "per_second must be a whole number from 1 to 10000"),
            ("a.yaml", "phone_number_id: \"1\"\ntoken_env: A\nper_second: 0\n", "per_second must be a whole number from 1 to 10000"),
            ("a.yaml", "phone_number_id: \"1\"\ntoken_env: A\nportfolio: ../x\n", "portfolio: an account name is"),
            ("a.yaml", "- not a mapping\n", "must be a mapping"),
            ("Sales Team.yaml", "phone_number_id: \"1\"\ntoken_env: A\n", "an account name is 1 to 64"),
        ])
    func refusals(file: String, text: String, expected: String) throws {
        let dir = try directory([file: text])
        #expect {
            try WhatsAppAccount.load(directory: dir, environment: ["A": "s3cr3t", "BROKEN": "s3cr3t\r\nX-Evil: 1"])
        } throws: { error in
            let message = "\(error)"
            return message.contains(expected) && message.contains(file) && !message.contains("s3cr3t") && !message.contains("inline-secret")
        }
    }

    @Test("two files for one phone number are refused")
    func duplicateNumber() throws {
        let dir = try directory(["a.yaml": "phone_number_id: \"1\"\ntoken_env: A\n", "b.yaml": "phone_number_id: \"1\"\ntoken_env: A\n"])
        #expect(throws: TemplateError.self) { try WhatsAppAccount.load(directory: dir, environment: ["A": "t"]) }
    }
}
