# MONITOR output -> RESP commands for redis-cli --pipe, in two files:
#
#   SETUP  the bench's own writes: SCRIPT LOADs and calls of `contact_apply`
#          (the WhatsApp bench gives each contact a phone number first);
#   SENDER SETUP, then everything the sender did: its SCRIPT LOADs, its EVALSHAs,
#          and every other command of the connections that called its scripts
#          (reading profiles, mapping provider ids).
#
# Replaying both and subtracting counts the sender's work alone. Scripts are told
# apart by their first line, `-- <name>` (RedisScript); other workers' scripts, and
# their connections, are left out.
import hashlib
import re
import sys

QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
CLIENT = re.compile(r'\[\d+ ([^\]]+)\]')
ESCAPES = {'n': b'\n', 'r': b'\r', 't': b'\t', 'a': b'\a', 'b': b'\b', '"': b'"', '\\': b'\\'}
SETUP_SCRIPTS = {b'contact_apply'}
SENDER_SCRIPTS = {b'limit_acquire', b'message_claim', b'message_record', b'message_bring_forward'}


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


def commands(path):
    """(client, args) per command of the capture."""
    for line in open(path, encoding='utf-8', errors='surrogateescape'):
        if '] "' not in line:
            continue
        client = CLIENT.search(line)
        yield client.group(1) if client else '', [unescape(m) for m in QUOTED.findall(line.split('] ', 1)[1])]


def resp(args):
    return b'*%d\r\n' % len(args) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in args)


capture, setup_path, sender_path = sys.argv[1:4]
# First pass: each script's name by SHA, and the connections that called a sender script.
names = {}
senders = set()
for client, args in commands(capture):
    name = args[0].upper() if args else b''
    if name == b'SCRIPT' and len(args) == 3 and args[1].upper() == b'LOAD':
        first = args[2].split(b'\n', 1)[0]
        names[hashlib.sha1(args[2]).hexdigest().encode()] = first[3:].strip() if first.startswith(b'-- ') else b'?'
    elif name == b'EVALSHA' and names.get(args[1].lower()) in SENDER_SCRIPTS:
        senders.add(client)
setup, sender = [], []
for client, args in commands(capture):
    name = args[0].upper() if args else b''
    if name == b'SCRIPT' and len(args) == 3 and args[1].upper() == b'LOAD':
        setup.append(resp(args))
    elif name == b'EVALSHA' and names.get(args[1].lower()) in SETUP_SCRIPTS:
        setup.append(resp(args))
    elif name == b'EVALSHA' and names.get(args[1].lower()) in SENDER_SCRIPTS:
        sender.append(resp(args))
    elif client in senders and name not in (b'EVALSHA', b'SCRIPT'):
        sender.append(resp(args))
with open(setup_path, 'wb') as f:
    f.writelines(setup)
with open(sender_path, 'wb') as f:
    f.writelines(setup + sender)
print(len(setup), 'setup commands,', len(sender), 'sender commands', file=sys.stderr)
