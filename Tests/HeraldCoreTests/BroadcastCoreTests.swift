import HeraldCore
import Testing

@Suite("Broadcast definitions, states and recipient rows")
struct BroadcastCoreTests {
    func parse(_ text: String, now: Int64 = 0) throws(BroadcastError) -> Broadcast {
        try Broadcast(json: (try? JSONValue.parse(string: text)) ?? .null, now: now)
    }

    func refusal(_ text: String) -> BroadcastError? {
        do {
            _ = try parse(text)
            return nil
        } catch { return error }
    }

    @Test("every field is checked and a refusal names it; the JSON form reads back the same")
    func definitions() throws {
        let full = try parse(
            #"{"id":"spring","name":"Jaro","note":"n","channel":"whatsapp","template":"order-update","account":"sales","language":"cs","category":"utility","#
                + #""variables":[{"field":"contact.attributes.first_name","default":"zákazníku"}],"audience":{"segment":"vip"},"start_at":"1970-01-02T00:00:00Z"}"#
        )
        #expect(full.startAt == 86_400_000 && full.category == .utility && full.variables.count == 1 && full.audience == .segment("vip"))
        #expect(try Broadcast(json: full.json, now: 0) == full)
        #expect(
            try parse(#"{"id":"m","channel":"sms","template":"t","audience":{},"phone_field":"attributes.mobile"}"#).request(for: "c", now: 0).phoneField
                == "attributes.mobile")
        let mail = try parse(#"{"id":"m","channel":"email","template":"t","audience":{},"from":"news@shop.example","from_name":"Shop News"}"#)
        #expect(mail.request(for: "c", now: 0).from == (try EmailAddress("news@shop.example", name: "Shop News")))
        #expect(try Broadcast(json: mail.json, now: 0) == mail)
        let sent = mail.request(for: "c", now: 0)
        #expect(try SendRequest(json: sent.json) == sent && SendRequest(decoding: sent.encoded()) == sent, "From travels")
        let request = full.request(for: "c1", now: 5)
        #expect(request.id == "bc:spring:c1" && request.campaignId == "broadcast:spring" && request.account == "sales" && request.language == "cs")
        #expect(request.category == "transactional", "utility is not marketing: no opt-out or cap applies")
        #expect(try SendRequest(json: request.json) == request && SendRequest(decoding: request.encoded()) == request, "language and variables travel")
        let base = #""channel":"sms","template":"t","audience":{}"#
        let cases: [(String, String)] = [
            (#"{"channel":"sms","template":"t","audience":{}}"#, "id"),
            (#"{"id":"Bad Id",\#(base)}"#, "id"),
            (#"{"id":"a","channel":"webhook","template":"t","audience":{}}"#, "channel"),
            (#"{"id":"a","channel":"sms","template":"../x","audience":{}}"#, "template"),
            (#"{"id":"a","channel":"sms","template":"t"}"#, "audience"),
            (#"{"id":"a",\#(base),"account":"sales"}"#, "account"),
            (#"{"id":"a",\#(base),"language":"cs"}"#, "language"),
            (#"{"id":"a","channel":"whatsapp","template":"t","audience":{},"language":"c"}"#, "language"),
            (#"{"id":"a","channel":"whatsapp","template":"t","audience":{},"variables":[{"field":"x","default":""}]}"#, "variables[0].default"),
            (#"{"id":"a","channel":"whatsapp","template":"t","audience":{},"variables":[{"field":"a..b","default":"d"}]}"#, "variables[0].field"),
            (#"{"id":"a",\#(base),"category":"promo"}"#, "category"),
            (#"{"id":"a",\#(base),"start_at":"tomorrow"}"#, "start_at"),
            (#"{"id":"a",\#(base),"start_at":"2099-01-01T00:00:00Z"}"#, "start_at"),
            (#"{"id":"a","channel":"sms","template":"t","audience":{"segment":"v","tag":"x"}}"#, "audience.segment"),
            (#"{"id":"a","channel":"sms","template":"t","audience":{"where":"nonsense: 1"}}"#, "audience.where"),
            (#"{"id":"a","channel":"sms","template":"t","audience":{"size":1}}"#, "audience.size"),
            (#"{"id":"a",\#(base),"send_at":"x"}"#, "send_at"),
            (#"{"id":"a",\#(base),"phone_field":"email"}"#, "phone_field"),
            (#"{"id":"a",\#(base),"from":"x@shop.example"}"#, "from"),
            (#"{"id":"a","channel":"email","template":"t","audience":{},"from":"not an address"}"#, "from"),
            (#"{"id":"a","channel":"email","template":"t","audience":{},"from_name":"Shop"}"#, "from_name"),
            (#"{"id":"a","channel":"email","template":"t","audience":{},"phone_field":"phone"}"#, "phone_field"),
            (#"{"id":"a",\#(base),"window":"20:00-09:00"}"#, "window"),
            (#"{"id":"a",\#(base),"time_zone":"Mars/Base"}"#, "time_zone"),
            (#"{"id":"a",\#(base),"pause_on_error_rate":0}"#, "pause_on_error_rate"),
            (#"{"id":"a",\#(base),"name":"\#(String(repeating: "x", count: 300))"}"#, "name"),
        ]
        for (text, field) in cases { #expect(refusal(text)?.field == field, "\(text): \(String(describing: refusal(text)))") }
        let many = (0...TemplateVariable.maxCount).map { _ in #"{"field":"event.a","default":"d"}"# }.joined(separator: ",")
        #expect(refusal(#"{"id":"a","channel":"whatsapp","template":"t","audience":{},"variables":[\#(many)]}"#)?.field == "variables")
    }

    @Test("actions move states as documented; anything else is refused")
    func states() {
        #expect(BroadcastState.draft.after(.start, startAt: nil, now: 10) == .running)
        #expect(BroadcastState.draft.after(.start, startAt: 20, now: 10) == .scheduled)
        #expect(BroadcastState.scheduled.after(.pause, startAt: 20, now: 10) == .paused)
        #expect(BroadcastState.paused.after(.resume, startAt: 20, now: 10) == .scheduled)
        #expect(BroadcastState.paused.after(.resume, startAt: 20, now: 30) == .running)
        #expect(BroadcastState.running.after(.start, startAt: nil, now: 10) == nil)
        #expect(BroadcastState.draft.after(.pause, startAt: nil, now: 10) == nil)
        for a in BroadcastState.Action.allCases { #expect(BroadcastState.cancelled.after(a, startAt: nil, now: 0) == nil, "cancelled \(a)") }
        for a in BroadcastState.Action.allCases where a != .retryFailed {
            #expect(BroadcastState.finished.after(a, startAt: nil, now: 0) == nil, "finished \(a)")
        }
        #expect(BroadcastState.finished.after(.retryFailed, startAt: nil, now: 0) == .running, "retrying the failed runs it again")
        #expect(BroadcastState.paused.after(.retryFailed, startAt: nil, now: 0) == .paused, "a paused one stays paused until resumed")
        #expect(BroadcastState.draft.after(.retryFailed, startAt: nil, now: 0) == nil)
        for s in [BroadcastState.draft, .scheduled, .running, .paused] { #expect(s.after(.cancel, startAt: nil, now: 0) == .cancelled) }
    }

    @Test("CSV rows: the phone normalised, values fill variables in order, empty cells need the broadcast's defaults")
    func rows() throws {
        let plain = try Broadcast(json: ["id": "b", "channel": "whatsapp", "template": "t", "audience": [:]], now: 0)
        let rows = try BroadcastRecipientRows(broadcast: plain, header: ["phone", "a", "b"], country: "+420")
        #expect(
            rows.read(["601 234 567", "x", "y"], line: 2)
                == .row(
                    phone: "+420601234567", event: ["1": "x", "2": "y"],
                    variables: [TemplateVariable(field: "event.1", defaultValue: "x"), TemplateVariable(field: "event.2", defaultValue: "y")]))
        #expect(rows.read(["", "x", "y"], line: 3) == .rejected(line: 3, column: "phone", reason: "no phone number"))
        #expect(rows.read(["12", "x", "y"], line: 4) == .rejected(line: 4, column: "phone", reason: "'12' is not a phone number"))
        #expect(
            rows.read(["+420601234567", "", "y"], line: 5)
                == .rejected(line: 5, column: "a", reason: "empty, and the broadcast sets no variables with defaults"))
        #expect(
            rows.read(["+420601234567", "x"], line: 6) == .rejected(line: 6, column: "b", reason: "empty, and the broadcast sets no variables with defaults"))
        #expect(
            rows.read(["+420601234567", "x", "y", "z"], line: 7)
                == .rejected(line: 7, column: "column 4", reason: "the row has more cells than the header has columns"))
        var mapped = plain
        mapped.variables = [TemplateVariable(field: "event.2", defaultValue: "d")]
        let withDefaults = try BroadcastRecipientRows(broadcast: mapped, header: ["phone", "a", "b"], country: nil)
        #expect(withDefaults.read(["+420601234567", "", ""], line: 2) == .row(phone: "+420601234567", event: [:], variables: mapped.variables))
        var email = plain
        email.channel = .email
        #expect(throws: BroadcastError.self) { try BroadcastRecipientRows(broadcast: email, header: ["phone"], country: nil) }
        #expect(BroadcastRecipientRows.blankHeader(variables: 2) == ["phone", "variable_1", "variable_2"])
    }

    @Test("Meta's template webhooks: a status or a quality update per change; paused, disabled and a red quality stop sending, approval does not")
    func templateUpdates() throws {
        let body = try JSONValue.parse(
            string: #"""
                {"object":"whatsapp_business_account","entry":[{"id":"1","changes":[
                 {"field":"message_template_status_update","value":{"event":"PAUSED","message_template_name":"spring","message_template_language":"cs","reason":"LOW_QUALITY"}},
                 {"field":"message_template_status_update","value":{"event":"APPROVED","message_template_name":"spring","message_template_language":"en","reason":"NONE"}},
                 {"field":"message_template_quality_update","value":{"new_quality_score":"RED","previous_quality_score":"YELLOW","message_template_name":"x","message_template_language":"en"}},
                 {"field":"messages","value":{"statuses":[]}},
                 {"field":"message_template_status_update","value":{"event":"DISABLED"}}]}]}
                """#)
        let updates = ProviderStatus.whatsAppTemplateUpdates(body)
        #expect(updates.count == 3)
        #expect(updates.map(\.stopsSending) == [true, false, true])
        #expect(updates[0].description == "WhatsApp template 'spring' (cs) is PAUSED: LOW_QUALITY")
        #expect(updates[1].reason == "" && updates[2].description == "WhatsApp template 'x' (en) quality is now RED")
        #expect(ProviderStatus.whatsApp(body).isEmpty, "template updates are not message statuses")
    }
}
