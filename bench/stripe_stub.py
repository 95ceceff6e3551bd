"""A stub of Stripe's ``POST /v1/billing_portal/sessions`` on 127.0.0.1, with a call counter.

Runs in its own process: ``python bench/stripe_stub.py --port P [--validate]``.
``GET /__stats`` answers ``{"sessions": n, "invalid": n}``; ``POST /__reset`` zeroes them.
With ``--validate`` every request body is checked against Stripe's schema
(``../shared/stripe-openapi``), which the smoke run uses; timed runs leave it off.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import stripe_objects

SESSIONS_PATH = "/v1/billing_portal/sessions"


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions = 0
        self.invalid = 0
        self.next_id = 0


def _validator() -> Any:
    from tests import contract

    return contract if contract.available() else None


def make_handler(counters: _Counters, validate: bool) -> type[BaseHTTPRequestHandler]:
    contract = _validator() if validate else None
    template = stripe_objects.portal_session(id="bps_template", customer="cus_template")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Stripe's API
        # Headers and body go out in two writes: with Nagle's algorithm the second
        # waits for the client's delayed ACK (40 ms), which would time the stub.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the bench reads counters, not logs."""

        def _send_json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", "req_bench")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/__stats":
                with counters.lock:
                    stats = {"sessions": counters.sessions, "invalid": counters.invalid}
                self._send_json(200, stats)
            else:
                self._send_json(404, {"error": {"type": "invalid_request_error"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/__reset":
                with counters.lock:
                    counters.sessions = counters.invalid = 0
                self._send_json(200, {})
                return
            if self.path != SESSIONS_PATH:
                self._send_json(404, {"error": {"type": "invalid_request_error"}})
                return
            invalid = False
            if contract is not None:
                try:
                    contract.validate_request("POST", SESSIONS_PATH, raw)
                except Exception:
                    invalid = True
            params = dict(parse_qsl(raw.decode()))
            with counters.lock:
                counters.sessions += 1
                counters.invalid += invalid
                counters.next_id += 1
                number = counters.next_id
            session = dict(template)
            session_id = f"bps_bench{number:09d}"
            session.update(
                id=session_id,
                customer=params.get("customer", ""),
                return_url=params.get("return_url"),
                created=int(time.time()),
                url=f"https://billing.stripe.com/p/session/test_{session_id}",
            )
            self._send_json(200, session)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--validate", action="store_true")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(_Counters(), args.validate))
    server.daemon_threads = True
    print(f"stub listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
