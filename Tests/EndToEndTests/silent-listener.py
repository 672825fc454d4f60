# A peer that takes every connection and never answers: the provider that got a
# request and went silent. Prints one line per connection, with the bytes read.
import socket, sys, threading
port = int(sys.argv[1])
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(64)
print("listening", flush=True)
held = []
def drain(conn):
    data = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if b"\r\n\r\n" in data:
            print("request", data.split(b"\r\n", 1)[0].decode(errors="replace"), flush=True)
            data = b""
while True:
    conn, _ = server.accept()
    held.append(conn)
    print("connection", flush=True)
    threading.Thread(target=drain, args=(conn,), daemon=True).start()
