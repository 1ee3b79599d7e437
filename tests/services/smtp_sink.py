#!/usr/bin/python3
"""SMTP sink for fault tests: aiosmtpd's Maildir sink with two knobs.

    smtp_sink.py --port PORT --maildir DIR [--reject-prefix reject] [--delay-ms N]

Stores each accepted message in DIR/new with X-MailFrom / X-RcptTo headers,
like `python3 -m aiosmtpd -c aiosmtpd.handlers.Mailbox DIR`. A recipient
whose local part starts with --reject-prefix is refused at RCPT TO with
"550 5.1.1 <addr>: no such user" (a permanent refusal). --delay-ms holds each
DATA that long before answering 250, so a test can catch the publisher in the
middle of a batch. Prints "ready" on stdout once it listens.

Only the standard library and python3-aiosmtpd; run it with /usr/bin/python3.
"""

import argparse
import asyncio
import os
import signal
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


class Sink(Mailbox):
    def __init__(self, maildir, reject_prefix, delay_ms):
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        super().__init__(maildir)
        self.reject_prefix = reject_prefix
        self.delay_s = delay_ms / 1000.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if self.reject_prefix and local.startswith(self.reject_prefix):
            return "550 5.1.1 <%s>: no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay_s > 0:
            await asyncio.sleep(self.delay_s)
        return await super().handle_DATA(server, session, envelope)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--reject-prefix", default="")
    parser.add_argument("--delay-ms", type=int, default=0)
    args = parser.parse_args()

    controller = Controller(Sink(args.maildir, args.reject_prefix, args.delay_ms),
                            hostname="127.0.0.1", port=args.port)
    controller.start()
    print("ready", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        while not stop:
            time.sleep(0.1)
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
