/// Commands encoded in the Redis protocol (RESP: `*<n>\r\n`, then `$<length>\r\n<bytes>\r\n`
/// per argument), ready to be written as they are.
///
/// Encoding here, straight from the arguments' own UTF-8, replaced turning every
/// argument into a byte array and letting hiredis format each command
/// (`redisAppendCommandArgv`: a copy per command, three arrays, an `sds` built
/// with `sdscatfmt`): a sender's script calls carry hundreds of arguments per
/// round trip.
struct RESPCommands: Sendable {
    private(set) var bytes: [UInt8] = []
    /// How many commands, so how many replies to read.
    private(set) var count = 0

    init() {}

    init(_ commands: [[String]]) {
        bytes.reserveCapacity(commands.reduce(0) { $0 + $1.reduce(16) { $0 + $1.utf8.count + 16 } })
        for command in commands { append(command) }
    }

    init(bytes commands: [[[UInt8]]]) {
        for command in commands {
            begin(arguments: command.count)
            for argument in command { self.argument(bytes: argument) }
        }
    }

    mutating func append(_ command: [String]) {
        begin(arguments: command.count)
        for argument in command { self.argument(argument) }
    }

    /// Starts a command of `arguments` arguments; exactly that many `argument` calls follow.
    mutating func begin(arguments: Int) {
        count += 1
        header(UInt8(ascii: "*"), arguments)
    }

    mutating func argument(_ text: String) {
        var text = text
        // Native strings are contiguous UTF-8: one copy, no array of their own.
        text.withUTF8 { utf8 in
            header(UInt8(ascii: "$"), utf8.count)
            bytes.append(contentsOf: utf8)
        }
        crlf()
    }

    mutating func argument(bytes argument: [UInt8]) {
        header(UInt8(ascii: "$"), argument.count)
        bytes.append(contentsOf: argument)
        crlf()
    }

    mutating func append(contentsOf other: RESPCommands) {
        bytes.append(contentsOf: other.bytes)
        count += other.count
    }

    private mutating func crlf() {
        bytes.append(0x0D)
        bytes.append(0x0A)
    }

    /// `<marker><decimal>\r\n`.
    private mutating func header(_ marker: UInt8, _ value: Int) {
        bytes.append(marker)
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
        } else {
            var digits:
                (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
                    (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &digits) { buffer in
                var n = value
                var i = buffer.count
                repeat {
                    i -= 1
                    buffer[i] = UInt8(ascii: "0") + UInt8(n % 10)
                    n /= 10
                } while n > 0
                bytes.append(contentsOf: buffer[i...])
            }
        }
        crlf()
    }
}
