import HeraldCore
import Testing

@testable import HeraldChannels

@Suite("WhatsApp template parameters")
struct WhatsAppParameterTests {
    /// The paths a mapping may name, and some it should not.
    static let paths = [
        "contact.attributes.first_name", "contact.attributes.address.city", "contact.attributes.missing", "contact.phone", "contact.id",
        "contact.email", "contact.tags", "contact", "event.order_id", "event.cart.total", "event.missing", "event", "campaign_id", "send_id",
        "send_id.x", "unknown.field",
    ]

    @Test("a parameter's value is read from the request and profile directly, and is what the template data holds at its path")
    func sameAsTemplateData() {
        var request = SendRequest(id: "s1", contactId: "c1", campaignId: "k1", channel: .whatsapp, template: "order-update")
        request.event = ["order_id": "O-77", "cart": ["total": .double(12.5)]]
        var profile = ContactProfile(id: "c1")
        profile.phone = "+420601234567"
        profile.email = "ann@shop.example"
        profile.tags = ["vip"]
        profile.attributes = ["first_name": "Věra", "address": ["city": "Brno"]]
        for withProfile in [true, false] {
            let p = withProfile ? profile : nil
            let data = JSONValue.object(TemplateData.of(request, profile: p))
            for field in Self.paths {
                let path = field.split(separator: ".").map(String.init)
                let expected = path.reduce(Optional(data)) { $0?[$1] }
                #expect(WhatsAppProvider.value(at: path, request, profile: p) == expected, "\(field), profile: \(withProfile)")
            }
        }
        #expect(WhatsAppProvider.value(at: ["contact", "attributes", "first_name"], request, profile: profile) == "Věra")
        #expect(WhatsAppProvider.value(at: ["event", "cart", "total"], request, profile: profile) == .double(12.5))
    }

    @Test("the template message written as bytes is the Cloud API's JSON: the same document as built from dictionaries, any text escaped")
    func body() throws {
        for (parameters, reference) in [(["Věra", #"say "hi"\n"#], "c=ann&m=k%3A1"), ([], nil), (["one"], nil)] as [([String], String?)] {
            let bytes = WhatsAppProvider.body(to: "420601234567", template: "order-update", language: "cs", parameters: parameters, reference: reference)
            var expected: [String: JSONValue] = [
                "messaging_product": "whatsapp", "recipient_type": "individual", "to": "420601234567", "type": "template",
                "template": [
                    "name": "order-update", "language": ["code": "cs"],
                    "components": [["type": "body", "parameters": .array(parameters.map { ["type": "text", "text": .string($0)] })]],
                ],
            ]
            if let reference { expected["biz_opaque_callback_data"] = .string(reference) }
            #expect(try JSONValue.parse(bytes) == .object(expected), "\(String(decoding: bytes, as: UTF8.self))")
        }
    }
}
