# MONITOR output -> RESP commands for redis-cli --pipe: the SCRIPT LOADs, and the
# EVALSHAs of scripts loaded within the capture (others would only answer NOSCRIPT).
import hashlib
import re
import sys

QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
ESCAPES = {'n': b'\n', 'r': b'\r', 't': b'\t', 'a': b'\a', 'b': b'\b', '"': b'"', '\\': b'\\'}


def unescape(text):
    """One MONITOR argument (C-style escapes, \\xHH for other bytes) as bytes."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == '\\' and text[i + 1] == 'x':
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        elif c == '\\':
            out += ESCAPES.get(text[i + 1], text[i + 1].encode())
            i += 2
        else:
            out += c.encode('utf-8', 'surrogateescape')
            i += 1
    return bytes(out)


loaded = set()
written = 0
out = sys.stdout.buffer
for line in open(sys.argv[1], encoding='utf-8', errors='surrogateescape'):
    if '] "' not in line:
        continue
    args = [unescape(m) for m in QUOTED.findall(line.split('] ', 1)[1])]
    name = args[0].upper() if args else b''
    if name == b'SCRIPT' and len(args) == 3 and args[1].upper() == b'LOAD':
        loaded.add(hashlib.sha1(args[2]).hexdigest().encode())
    elif not (name == b'EVALSHA' and args[1].lower() in loaded):
        continue
    out.write(b'*%d\r\n' % len(args))
    for a in args:
        out.write(b'$%d\r\n%s\r\n' % (len(a), a))
    written += 1
print(written, 'commands', file=sys.stderr)
