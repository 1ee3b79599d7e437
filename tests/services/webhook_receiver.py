#!/usr/bin/python3
"""Webhook receiver for tests: a tiny HTTP server on loopback.

Each POST (any path except /_control/...) is appended to the --log file as one
JSON line {"path", "headers", "body", "status"} *before* the answer is sent, so
a client that got its answer finds the line already there. "status" is the
HTTP status the receiver answered.

Answers --status (default 200; env AL_WEBHOOK_STATUS). --fail-first N (env
AL_WEBHOOK_FAIL_FIRST) answers 503 to the first N posts, then --status.
Tests can change the answer at run time without a restart:

    PUT  /_control/status      body "503"  -> answer 503 from now on
    PUT  /_control/fail-first  body "3"    -> answer 503 to the next 3 posts
    GET  /_control/health                  -> 200 "ok" (never logged)

Only the standard library; run it with /usr/bin/python3.
"""

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL_PREFIX = "/_control/"


class State:
    def __init__(self, log_path, status, fail_first):
        self.log_path = log_path
        self.status = status
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def next_status(self):
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return 503
            return self.status

    def append(self, record):
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self.lock:
            fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "al-webhook-receiver/1"
    state = None  # set in main()

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, status, text):
        payload = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _control(self, body):
        name = self.path[len(CONTROL_PREFIX):].split("?")[0]
        try:
            if self.command == "GET" and name == "health":
                return self._answer(200, "ok\n")
            if self.command == "GET" and name == "status":
                return self._answer(200, "%d\n" % self.state.status)
            if self.command in ("PUT", "POST") and name == "status":
                with self.state.lock:
                    self.state.status = int(body.strip() or b"200")
                return self._answer(200, "status %d\n" % self.state.status)
            if self.command in ("PUT", "POST") and name == "fail-first":
                with self.state.lock:
                    self.state.fail_first = int(body.strip() or b"0")
                return self._answer(200, "fail-first %d\n" % self.state.fail_first)
        except ValueError:
            return self._answer(400, "control: body must be an integer\n")
        return self._answer(404, "control: unknown request %s %s\n" % (self.command, self.path))

    def do_POST(self):
        body = self._read_body()
        if self.path.startswith(CONTROL_PREFIX):
            return self._control(body)
        status = self.state.next_status()
        self.state.append({
            "path": self.path,
            "headers": {k: v for k, v in self.headers.items()},
            "body": body.decode("utf-8", errors="replace"),
            "status": status,
        })
        self._answer(status, "ok\n" if status < 400 else "unavailable\n")

    def do_PUT(self):
        body = self._read_body()
        if self.path.startswith(CONTROL_PREFIX):
            return self._control(body)
        self._answer(405, "only POST is recorded\n")

    def do_GET(self):
        if self.path.startswith(CONTROL_PREFIX):
            return self._control(b"")
        self._answer(405, "only POST is recorded\n")

    def log_message(self, fmt, *args):
        sys.stderr.write("webhook_receiver: %s %s\n" % (self.address_string(), fmt % args))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port (see --port-file)")
    parser.add_argument("--log", required=True, help="JSON-lines file each POST is appended to")
    parser.add_argument("--status", type=int, default=int(os.environ.get("AL_WEBHOOK_STATUS", "200")))
    parser.add_argument("--fail-first", type=int, default=int(os.environ.get("AL_WEBHOOK_FAIL_FIRST", "0")))
    parser.add_argument("--port-file", help="write the bound port here once listening")
    args = parser.parse_args()

    Handler.state = State(args.log, args.status, args.fail_first)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stderr.write("webhook_receiver: listening on %s:%d, logging to %s\n" % (args.host, port, args.log))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
