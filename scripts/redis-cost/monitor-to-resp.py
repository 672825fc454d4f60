# MONITOR output -> RESP commands for redis-cli --pipe: the SCRIPT LOADs, and the
# EVALSHAs of scripts loaded within the capture (others would only answer NOSCRIPT).
import sys, re
tok = re.compile(r'"((?:[^"\\]|\\.)*)"')
def unescape(s):
    out = bytearray(); i = 0; b = s.encode('latin-1', 'backslashreplace') if False else s
    while i < len(s):
        c = s[i]
        if c == '\\':
            n = s[i+1]
            if n == 'x': out += bytes([int(s[i+2:i+4], 16)]); i += 4; continue
            out += {'n': b'\n', 'r': b'\r', 't': b'\t', 'a': b'\a', 'b': b'\b', '"': b'"', '\\': b'\\'}.get(n, n.encode()); i += 2; continue
        out += c.encode('utf-8'); i += 1
    return bytes(out)
import hashlib
known = set()
w = sys.stdout.buffer; n = 0
for line in open(sys.argv[1], encoding='utf-8', errors='surrogateescape'):
    if '] "' not in line: continue
    args = [unescape(m) for m in tok.findall(line.split('] ', 1)[1])]
    if not args: continue
    name = args[0].upper()
    if name not in (b'EVALSHA', b'SCRIPT'): continue
    if name == b'SCRIPT' and args[1].upper() != b'LOAD': continue
    if name == b'SCRIPT': known.add(hashlib.sha1(args[2]).hexdigest().encode())
    if name == b'EVALSHA' and args[1].lower() not in known: continue
    w.write(b'*%d\r\n' % len(args))
    for a in args: w.write(b'$%d\r\n%s\r\n' % (len(a), a))
    n += 1
print(n, 'commands', file=sys.stderr)
