"""The stand-in's HTTP server (stdlib ``http.server``), run in a thread.

``start_standin(port=12111, webhook_url=…, webhook_secret=…)`` returns a
running ``StandIn``; ``python -m stripe_standin`` runs one in the foreground.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from django_stripe_portal.testing.stripe_forms import decode_form
from stripe_standin import api, events_api, objects
from stripe_standin.accounts import acting_as, refusal_for
from stripe_standin.portal_page import PageAnswer, PortalPage
from stripe_standin.state import StandinState
from stripe_standin.thin import DELIVERIES, ThinDestination
from stripe_standin.webhooks import Delivery, WebhookSender

logger = logging.getLogger("stripe_standin")

ACCEPTED_KEY_PREFIXES = ("sk_test_", "rk_test_")
MAX_BODY_BYTES = 1024 * 1024


@dataclass
class RecordedRequest:
    """One API call as received, for contract tests of what the app sends."""

    method: str
    path: str
    body: str
    stripe_version: str | None
    #: The ``Stripe-Account`` header (Connect), None when the request had none.
    stripe_account: str | None = None


class StandIn:
    """A running stand-in: its ``url``, ``state`` and the API ``requests`` it received."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        webhook_url: str | None,
        webhook_secret: str,
        state_path: Path | None,
        connect_webhook_secret: str | None = None,
        delivery: str = "snapshot",
        thin_url: str | None = None,
        thin_secret: str = "",
    ) -> None:
        if delivery not in DELIVERIES:
            raise ValueError(f"delivery={delivery!r}: one of {', '.join(DELIVERIES)}")
        self.delivery = delivery
        self.state = StandinState(state_path)
        self.webhooks = WebhookSender(
            webhook_url,
            webhook_secret,
            connect_secret=connect_webhook_secret,
            on_delivered=lambda event_id: events_api.mark_delivered(self.state, event_id),
        )
        #: The event destination (thin events), delivering when ``delivery`` says so.
        self.thin = ThinDestination(thin_url, thin_secret)
        self.portal = PortalPage(self.state, self.deliver)
        self.requests: list[RecordedRequest] = []
        self._idempotent: dict[str, tuple[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="stripe-standin", daemon=True
        )

    def start(self) -> StandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.webhooks.stop()
        self.thin.stop()

    def deliver(self, event: dict[str, Any]) -> Delivery:
        """Send ``event`` through the doors ``delivery`` names; the returned delivery is
        the thin one when thin events are on (the one a caller waits for)."""
        delivered = None
        if self.delivery in ("snapshot", "both"):
            delivered = self.webhooks.send(event)
        if self.delivery in ("thin", "both"):
            delivered = self.thin.send(event)
        assert delivered is not None
        return delivered

    def session_url(self, secret: str) -> str:
        return f"{self.url}/p/session/{secret}"

    def api_answer(
        self, method: str, path: str, body: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        key = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not key.startswith(ACCEPTED_KEY_PREFIXES):
            return 401, objects.error_body(
                "Invalid API Key provided. The offline stand-in accepts any test-mode key "
                "(sk_test_…)."
            )
        # A thin event's fetches name the connected account in Stripe-Context.
        account = headers.get("stripe-account") or headers.get("stripe-context")
        with self._lock:
            self.requests.append(
                RecordedRequest(method, path, body, headers.get("stripe-version"), account)
            )
        refusal = refusal_for(account)
        if refusal:
            return 403, objects.error_body(refusal)
        split = urlsplit(path)
        params = decode_form(split.query if method == "GET" else body)
        idempotency_key = headers.get("idempotency-key")
        # Stripe keeps idempotency keys per account.
        replay_key = f"{account or ''}:{idempotency_key}"
        if method == "POST" and idempotency_key:
            with self._lock:
                if replay_key in self._idempotent:
                    return self._idempotent[replay_key]
        request = api.ApiRequest(
            method, split.path.rstrip("/"), params, objects.new_id("req"), idempotency_key
        )
        context = api.ApiContext(self.state, self.deliver, self.session_url)
        with acting_as(account or ""):
            answer = api.dispatch(context, request)
        if method == "POST" and idempotency_key:
            with self._lock:
                self._idempotent[replay_key] = answer
        return answer

    def v2_event_answer(self, path: str, headers: Any) -> tuple[int, dict[str, Any]]:
        """``GET /v2/core/events/{id}``, with the same key check as the v1 API."""
        key = str(headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if not key.startswith(ACCEPTED_KEY_PREFIXES):
            return 401, objects.error_body("Invalid API Key provided.")
        with self._lock:
            self.requests.append(
                RecordedRequest("GET", path, "", headers.get("Stripe-Version"), None)
            )
        return self.thin.answer(path.removeprefix("/v2/core/events/").strip("/"))

    def portal_answer(self, method: str, secret: str, body: str) -> PageAnswer:
        """The portal page acts as the account its session was created on."""
        session = self.state.session_by_secret(secret)
        account = self.state.account_of(session["id"]) if session else ""
        with acting_as(account):
            if method == "POST":
                return self.portal.act(secret, dict(parse_qsl(body, keep_blank_values=True)))
            return self.portal.show(secret)


def start_standin(
    *,
    host: str = "127.0.0.1",
    port: int = 12111,
    webhook_url: str | None = None,
    webhook_secret: str = "whsec_offlinedemo",  # noqa: S107 - the offline demo's fake secret
    state_path: Path | None = None,
    connect_webhook_secret: str = "whsec_offlinedemoconnect",  # noqa: S107 - also fake
    delivery: str = "snapshot",
    thin_url: str | None = None,
    thin_secret: str = "whsec_offlinedemothin",  # noqa: S107 - also fake
) -> StandIn:
    """Start a stand-in in a background thread (``port=0``: any free port). Events of the
    connected account are signed with ``connect_webhook_secret``, as a Connect endpoint's.
    ``delivery`` ``"thin"`` (or ``"both"``) sends thin notifications to ``thin_url``,
    signed with ``thin_secret``, as an event destination does."""
    return StandIn(
        host,
        port,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        state_path=state_path,
        connect_webhook_secret=connect_webhook_secret,
        delivery=delivery,
        thin_url=thin_url,
        thin_secret=thin_secret,
    ).start()


def _handler_for(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "stripe-standin/1"

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_DELETE(self) -> None:
            self._route("DELETE")

        def log_message(self, format: str, *args: Any) -> None:
            # Portal paths carry the session secret: log the route, never the secret.
            path = self.path.split("?", 1)[0]
            if path.startswith("/p/session/"):
                path = "/p/session/…"
            logger.info("%s %s", self.command, path)

        def _route(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._send_json(413, objects.error_body("Request body too large."))
                return
            body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
            path = urlsplit(self.path).path
            if path.startswith("/v1/"):
                headers = {name.lower(): value for name, value in self.headers.items()}
                status, payload = standin.api_answer(method, self.path, body, headers)
                self._send_json(status, payload)
            elif path.startswith("/v2/core/events/") and method == "GET":
                self._send_json(*standin.v2_event_answer(path, self.headers))
            elif path.startswith("/p/session/"):
                secret = path.removeprefix("/p/session/").strip("/")
                self._send_page(standin.portal_answer(method, secret, body))
            elif path == "/":
                self._send_json(200, {"stand_in": "Stripe API stand-in for the offline demo"})
            else:
                self._send_json(404, objects.error_body(f"Unrecognized request URL ({path})."))

        def _send_json(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload, indent=2).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", objects.new_id("req"))
            self.send_header("Stripe-Version", objects.API_VERSION)
            self.end_headers()
            self.wfile.write(data)

        def _send_page(self, answer: PageAnswer) -> None:
            data = answer.html.encode()
            self.send_response(answer.status)
            if answer.location:
                self.send_header("Location", answer.location)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(data)

    return Handler
