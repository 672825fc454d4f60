/// Which field of a profile holds the phone a message goes to: `phone`, or a
/// text attribute (`attributes.mobile`) — a broadcast may choose, as seed 001
/// lets the marketer pick the column of the address book that holds the number.
public enum PhoneField {
    /// The rule, as refusals state it.
    public static let rule = "must be phone or attributes.<name> (an attribute holding an E.164 number)"

    /// Whether `field` follows `rule`.
    public static func isValid(_ field: String) -> Bool {
        field == "phone" || (field.hasPrefix("attributes.") && (1...128).contains(field.utf8.count - "attributes.".utf8.count))
    }

    /// The value of `field` ("" or `phone`: the profile's phone) in `profile`, if it is a text.
    public static func value(_ field: String, in profile: ContactProfile?) -> String? {
        guard let profile else { return nil }
        guard field.hasPrefix("attributes.") else { return profile.phone }
        return profile.attributes[String(field.dropFirst("attributes.".count))]?.stringValue
    }

    /// The message's number, or why there is none (`invalid_record`): missing, or not E.164.
    public static func number(_ field: String, in profile: ContactProfile?) -> Result<String, PhoneFieldMiss> {
        let name = field.isEmpty ? "phone" : field
        guard let value = Self.value(field, in: profile) else {
            return .failure(PhoneFieldMiss(description: name == "phone" ? "the contact has no phone number" : "the contact has no \(name)"))
        }
        guard ContactInput.isE164(value) else {
            return .failure(PhoneFieldMiss(description: name == "phone" ? "'\(value)' is not an E.164 number" : "'\(value)' in \(name) is not an E.164 number"))
        }
        return .success(value)
    }
}

/// Why a profile gives no number to send to.
public struct PhoneFieldMiss: Error, Sendable, CustomStringConvertible {
    /// What is missing or wrong.
    public let description: String
}
