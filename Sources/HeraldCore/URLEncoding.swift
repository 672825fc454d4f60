import Foundation

/// Percent-encoding for URLs Herald builds and `application/x-www-form-urlencoded`
/// bodies it sends (Twilio) or receives (Twilio's callbacks).
public enum URLEncoding {
    /// Everything but RFC 3986's unreserved characters (`A–Z a–z 0–9 - . _ ~`) as `%XX`.
    public static func percentEncoded(_ s: String) -> String {
        // Built as bytes: the sender encodes a reference for every WhatsApp and
        // SMS message, and appending to a String scalar by scalar cost 1 % of its CPU.
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 8)
        for b in s.utf8 {
            if isUnreserved(b) {
                out.append(b)
            } else {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(b >> 4)])
                out.append(hexDigits[Int(b & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let hexDigits = Array("0123456789ABCDEF".utf8)

    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// A form body: `name=value&…`, both percent-encoded.
    public static func form(_ fields: [(String, String)]) -> String {
        fields.map { "\(percentEncoded($0.0))=\(percentEncoded($0.1))" }.joined(separator: "&")
    }

    /// Reads a form body (`+` is a space); a name given twice keeps its last value.
    public static func parseForm(_ body: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1).map { String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0) }
            if kv.count == 2 { out[kv[0]] = kv[1] }
        }
        return out
    }
}
