#!/usr/bin/env python3
"""A local SMTP server (aiosmtpd) that writes each message it accepts as an .eml
file: the dev stack's outbox and the sender tests' real SMTP peer.

  scripts/smtp-sink.py --port 2525 --dir .herald/dev/outbox [--fail-first N] [--reject-domain D] [--delay-ms MS]

--fail-first N answers the first N messages with 451 (a temporary failure);
--reject-domain D refuses recipients at D with 550 (a permanent one);
--delay-ms MS waits that long before answering DATA (a slow server: calls stay in flight).
"""
import argparse
import asyncio
import os
import signal
import threading
import time
import uuid

from aiosmtpd.controller import Controller


class Outbox:
    def __init__(self, directory, fail_first, reject_domain, delay_ms=0):
        self.directory = directory
        self.delay = delay_ms / 1000
        self.fail_left = fail_first
        self.reject_domain = reject_domain
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_domain and address.lower().endswith("@" + self.reject_domain):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.fail_left > 0:
                self.fail_left -= 1
                return "451 4.3.0 try again later"
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        tmp = os.path.join(self.directory, "." + name)
        with open(tmp, "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, name))  # readers never see half a file
        return "250 2.0.0 accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--fail-first", type=int, default=0)
    parser.add_argument("--reject-domain", default="")
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Outbox(args.dir, args.fail_first, args.reject_domain, args.delay_ms), hostname=args.host, port=args.port)
    controller.start()
    print(f"smtp-sink listening on {args.host}:{args.port}, writing to {args.dir}", flush=True)
    # Readiness that only this process can signal: a port that accepts
    # connections may be another process's that took it first.
    open(os.path.join(args.dir, ".listening"), "w").close()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
