#!/usr/bin/python3
"""SMTP sink for fault tests: aiosmtpd's Maildir sink with two knobs.

    smtp_sink.py --port PORT --maildir DIR [--reject-prefix reject] [--delay-ms N]
                 [--tls-cert PEM --tls-key PEM [--smtps]] [--auth USER:PASSWORD]

Stores each accepted message in DIR/new with X-MailFrom / X-RcptTo headers,
like `python3 -m aiosmtpd -c aiosmtpd.handlers.Mailbox DIR`. A recipient
whose local part starts with --reject-prefix is refused at RCPT TO with
"550 5.1.1 <addr>: no such user" (a permanent refusal). --delay-ms holds each
DATA that long before answering 250, so a test can catch the publisher in the
middle of a batch. Prints "ready" on stdout once it listens.

With --tls-cert/--tls-key it offers STARTTLS (and with --smtps speaks TLS
from the first byte instead). With --auth it requires AUTH PLAIN or LOGIN
with that user and password, over TLS only. Each stored message records
X-TLS: yes|no and X-Auth-Login: <user>|- so tests can see how it came in,
and X-Open-Sessions: N, the client connections open while it was taken
(smtp.max_connections).

Only the standard library and python3-aiosmtpd; run it with /usr/bin/python3.
"""

import argparse
import asyncio
import os
import signal
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class CountingSMTP(SMTP):
    """Counts the client connections open at once (one event loop: no lock)."""
    open_sessions = 0

    def connection_made(self, transport):
        CountingSMTP.open_sessions += 1
        super().connection_made(transport)

    def connection_lost(self, error):
        CountingSMTP.open_sessions -= 1
        super().connection_lost(error)


class CountingController(Controller):
    def factory(self):
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


class Sink(Mailbox):
    def __init__(self, maildir, reject_prefix, delay_ms, implicit_tls=False):
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(maildir, sub), exist_ok=True)
        super().__init__(maildir)
        self.reject_prefix = reject_prefix
        self.delay_s = delay_ms / 1000.0
        self.implicit_tls = implicit_tls  # --smtps: every session is TLS (aiosmtpd reports only STARTTLS)

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

    def prepare_message(self, session, envelope):
        message = super().prepare_message(session, envelope)
        message["X-TLS"] = "yes" if session.ssl or self.implicit_tls else "no"
        login = getattr(session, "auth_data", None)
        message["X-Auth-Login"] = login.login.decode() if isinstance(login, LoginPassword) else "-"
        message["X-Open-Sessions"] = str(CountingSMTP.open_sessions)
        return message


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
              and auth_data.password.decode() == password)
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
    return authenticate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--reject-prefix", default="")
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--tls-cert", default="")
    parser.add_argument("--tls-key", default="")
    parser.add_argument("--smtps", action="store_true", help="TLS from the first byte instead of STARTTLS")
    parser.add_argument("--auth", default="", help="USER:PASSWORD every client must AUTH with")
    args = parser.parse_args()

    options = {}
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        options["ssl_context" if args.smtps else "tls_context"] = context
    if args.auth:
        user, password = args.auth.split(":", 1)
        # aiosmtpd only sees STARTTLS as TLS: on --smtps the socket is TLS already.
        options.update(authenticator=authenticator_for(user, password), auth_required=True,
                       auth_require_tls=not args.smtps)
    controller = CountingController(Sink(args.maildir, args.reject_prefix, args.delay_ms, args.smtps and bool(args.tls_cert)),
                            hostname="127.0.0.1", port=args.port, **options)
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
