"""A TCP proxy in front of redis-server that loses one answer.

Usage: lost-reply-proxy.py LISTEN_PORT REDIS_PORT MARKER

Forwards every connection to Redis unchanged, until a client sends bytes
containing MARKER for the first time: those bytes reach Redis, Redis runs them,
and the connection is then cut before any answer comes back, as when Redis dies
between running a command and replying. Later connections are forwarded as
usual. Prints "listening" when ready and "cut" when it has cut.
"""
import asyncio
import sys

listen_port, redis_port, marker = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
state = {"cut": False}


async def pipe(reader, writer, watch, cut_event):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if watch and not state["cut"] and marker in data:
                state["cut"] = True
                writer.write(data)
                await writer.drain()
                cut_event.set()
                break
            if cut_event.is_set():
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass


async def handle(client_reader, client_writer):
    redis_reader, redis_writer = await asyncio.open_connection("127.0.0.1", redis_port)
    cut_event = asyncio.Event()
    up = asyncio.create_task(pipe(client_reader, redis_writer, True, cut_event))
    down = asyncio.create_task(pipe(redis_reader, client_writer, False, cut_event))
    await asyncio.wait([up, down], return_when=asyncio.FIRST_COMPLETED)
    if cut_event.is_set():
        # Let Redis run what it got; its answer is read and thrown away.
        down.cancel()
        await asyncio.sleep(0.3)
        print("cut", flush=True)
    for t in (up, down):
        t.cancel()
    for w in (client_writer, redis_writer):
        try:
            w.transport.abort()
        except Exception:
            pass


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    print("listening", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
