"""A bounded fuzz run against a real gunicorn on PostgreSQL: the setting in which an
independent probe found 251 of 3,000, then 24 of 10,000 hostile requests answered 500.

Every URL the app serves gets hostile input: the webhook (signed bodies with overflowing
numbers, lone surrogates, deep nesting plain or hidden in strings, NULs at depth, bad URLs
in every URL-shaped field; garbage and non-ASCII signature headers, sent as raw bytes), the
billing button's POST (a signed-in user with any form and Referer, with and without its
CSRF token), the return link (any token) and the app's admin pages (odd query strings and
ids). Stripe is a stand-in on 127.0.0.1 that refuses every seventh session. No answer may
be a 500, and each kind of request has its own set of answers (a 502 only for a JSON client
of the button when the stand-in refused); the webhook's 200s, and only they, leave a row.
``GUNICORN_FUZZ_REQUESTS`` (default 10,000) sets the size."""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.testing import sign_payload
from tests import stripe_objects as so
from tests.factories import StripeCustomerFactory, UserFactory
from tests.hostile_json import (
    HOSTILE_SPOTS,
    URL_FIELDS,
    bad_url_event_body,
    bad_urls,
    header_texts,
    hostile_event_body,
    hostile_fragments,
    non_ascii_header_texts,
)
from tests.process_support import child_env, free_port, gunicorn
from tests.test_admin_fuzz import MODELS, PARAMETERS, odd_values
from tests.test_redirect_fuzz import url_like
from tests.webhook_support import SECRET, WEBHOOK_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.off_contract,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

REQUESTS = int(os.environ.get("GUNICORN_FUZZ_REQUESTS", "10000"))
#: Requests generated together and sent at once, over CLIENTS connections.
BATCH = 50
CLIENTS = 4
CSRF_SECRET = "f" * 32
PORTAL_URL = "/billing/portal/"


class _StripeStandIn(BaseHTTPRequestHandler):
    """``POST /v1/billing_portal/sessions`` answered at once; every seventh refused with a
    Stripe error (the view's error path), anything else a 404 as Stripe's."""

    calls = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode("utf-8", "replace")))
        with self.lock:
            type(self).calls += 1
            refuse = type(self).calls % 7 == 0
        if self.path != "/v1/billing_portal/sessions":
            self._answer(404, {"error": {"type": "invalid_request_error", "message": "No such"}})
        elif refuse:
            self._answer(500, {"error": {"type": "api_error", "message": "stand-in refusal"}})
        else:
            session = so.portal_session(customer=form.get("customer", "cus_fuzz"))
            session["return_url"] = form.get("return_url")
            self._answer(200, session)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Request-Id", so.unique_id("req"))
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Target:
    port: int
    log: Path
    #: The signed-in superuser's cookies (a session created in the database).
    cookie: str


@dataclass
class Tally:
    """What the run sent and got, by kind of request."""

    sent: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    #: Per kind of request: how many, and the seconds their answers took.
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


@pytest.fixture(scope="module")
def target(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    stand_in = ThreadingHTTPServer(("127.0.0.1", free_port()), _StripeStandIn)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    log = tmp_path_factory.mktemp("gunicorn_fuzz") / "gunicorn.log"
    env = child_env(
        "tests.fuzz_settings",
        FUZZ_STRIPE_API_BASE=f"http://127.0.0.1:{stand_in.server_address[1]}",
    )
    try:
        with gunicorn("tests.wsgi:application", env, log, workers=3) as port:
            yield Target(port, log, "")
    finally:
        stand_in.shutdown()


@pytest.fixture
def signed_in(target: Target) -> Target:
    """A superuser linked to a Stripe customer, signed in through a stored session."""
    user = UserFactory(is_staff=True, is_superuser=True)
    StripeCustomerFactory(user=user, customer_id="cus_fuzz")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return Target(
        target.port, target.log, f"sessionid={session.session_key}; csrftoken={CSRF_SECRET}"
    )


@dataclass(frozen=True)
class Request:
    kind: str
    method: str
    path: str
    headers: tuple[tuple[str, bytes], ...]
    body: bytes
    allowed: frozenset[int]


def _send(port: int, request: Request) -> tuple[int, bytes]:
    status, answer, _ = _timed_send(port, request)
    return status, answer


def _timed_send(port: int, request: Request) -> tuple[int, bytes, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest(request.method, request.path)
        conn.putheader("Content-Length", str(len(request.body)))
        for name, value in request.headers:
            conn.putheader(name, value)  # bytes: sent exactly as given
        conn.endheaders(request.body)
        response = conn.getresponse()
        return response.status, response.read(), time.monotonic() - started
    finally:
        conn.close()


def _signed(body: str) -> tuple[bytes, bytes]:
    return body.encode(), sign_payload(body, SECRET, timestamp=int(time.time())).encode()


def _webhook(kind: str, body: bytes, signature: bytes | None, allowed: set[int]) -> Request:
    headers: list[tuple[str, bytes]] = [("Content-Type", b"application/json")]
    if signature is not None:
        headers.append(("Stripe-Signature", signature))
    return Request(kind, "POST", WEBHOOK_URL, tuple(headers), body, frozenset(allowed))


def _valid_event() -> str:
    sub = so.subscription(metadata={"note": "café 😀 [{"}, quantity=2)
    event = so.event("customer.subscription.updated", sub, previous_attributes={"quantity": 1})
    return json.dumps(event)


# Header values that HTTP can carry: no CR, LF or NUL.
_header_bytes = (
    (non_ascii_header_texts | header_texts)
    .map(lambda text: text.encode("utf-8", "surrogatepass"))
    .filter(lambda raw: not any(byte in raw for byte in b"\r\n\x00"))
)


def _printable_only(text: str) -> str:
    """What an HTTP header or a path can carry as text (mapped, not filtered: a filter that
    rejects most draws makes generation slower than the requests)."""
    return "".join(char for char in text if char.isprintable())


_printable = st.text(max_size=40).map(_printable_only)

webhook_requests = st.one_of(
    st.builds(
        lambda where, fragment: _webhook(
            "signed", *_signed(hostile_event_body(where, fragment)), {200, 400}
        ),
        st.sampled_from(HOSTILE_SPOTS),
        hostile_fragments,
    ),
    st.builds(
        lambda where, url: _webhook("bad url", *_signed(bad_url_event_body(where, url)), {200}),
        st.sampled_from(sorted(URL_FIELDS)),
        bad_urls,
    ),
    st.builds(
        lambda header: _webhook("unsigned", _valid_event().encode(), header, {400}), _header_bytes
    ),
    st.builds(
        lambda body, header: _webhook("garbage", body, header, {400}),
        st.binary(max_size=200),
        st.none() | _header_bytes,
    ),
    st.just(None).map(lambda _: _webhook("valid", *_signed(_valid_event()), {200})),
)


def _portal_post(
    form: dict[str, str], referer: str | None, csrf: bool, accept_json: bool
) -> Request:
    if csrf:
        form = {**form, "csrfmiddlewaretoken": CSRF_SECRET}
    headers = [("Content-Type", b"application/x-www-form-urlencoded"), ("Cookie", b"")]
    if referer is not None:
        headers.append(("Referer", referer.encode("utf-8", "surrogatepass")))
    if accept_json:
        headers.append(("Accept", b"application/json"))
    # A refused CSRF check is a 403; JSON errors carry their own 4xx.
    allowed = {302, 303, 400, 403, 404, 409, 429} | ({200, 401, 502, 503} if accept_json else set())
    return Request(
        "portal", "POST", PORTAL_URL, tuple(headers), urlencode(form).encode(), frozenset(allowed)
    )


portal_requests = st.builds(
    _portal_post,
    st.fixed_dictionaries(
        {},
        optional={
            "flow": st.one_of(
                st.sampled_from(
                    ["subscription_cancel", "payment_method_update", "subscription_update"]
                ),
                st.text(max_size=20),
            ),
            "subscription": st.text(max_size=20),
            "locale": st.sampled_from(["fr", "pt-BR", "xx", "\x00"]) | st.text(max_size=6),
            "return_to": url_like,
            "after": st.sampled_from(["redirect", "confirmation", "portal", "x"]),
        },
    ),
    st.none() | url_like.map(_printable_only),
    st.booleans(),
    st.booleans(),
)

return_requests = st.builds(
    lambda token: Request(
        "return",
        "GET",
        f"/billing/return/{quote(token, safe='')}/",
        (("Cookie", b""),),
        b"",
        frozenset({302, 404}),
    ),
    st.text(min_size=1, max_size=60).map(lambda token: token.replace("/", "") or "x"),
)

_ADMIN_LISTS = [f"/admin/django_stripe_portal/{model}/" for model in MODELS]
_ADMIN_PAGES = [
    *_ADMIN_LISTS,
    "/admin/django_stripe_portal/portalsession/activity/",
    "/admin/django_stripe_portal/portalsession/at-risk/",
]
admin_requests = st.one_of(
    st.builds(
        lambda page, query: Request(
            "admin",
            "GET",
            page + "?" + urlencode(query),
            (("Cookie", b""),),
            b"",
            frozenset({200, 302, 400, 404}),
        ),
        st.sampled_from(_ADMIN_PAGES),
        st.lists(st.tuples(st.sampled_from(PARAMETERS), odd_values), max_size=4),
    ),
    st.builds(
        lambda page, object_id: Request(
            "admin",
            "GET",
            f"{page}{quote(object_id, safe='')}/change/",
            (("Cookie", b""),),
            b"",
            frozenset({200, 302, 404}),
        ),
        st.sampled_from(_ADMIN_LISTS),
        _printable.map(lambda text: text or "0"),
    ),
)

#: Mostly the webhook (what Stripe and scanners hit), every other URL as well.
any_request = st.one_of(
    webhook_requests,
    webhook_requests,
    webhook_requests,
    portal_requests,
    return_requests,
    admin_requests,
)


def _with_cookie(request: Request, cookie: str) -> Request:
    headers = tuple(
        (name, cookie.encode()) if name == "Cookie" else (name, value)
        for name, value in request.headers
    )
    return Request(
        request.kind, request.method, request.path, headers, request.body, request.allowed
    )


@pytest.mark.parametrize(
    "header",
    [
        "t=²,v1=00".encode(),  # UTF-8 bytes: Django reads "t=Â²,v1=00"
        "t=1,v1=é".encode(),
        b"t=\xb2,v1=00",  # one latin-1 byte: Django reads "t=²,v1=00"
        b"t=1,v1=\xe9" + b"0" * 63,
    ],
)
def test_the_non_ascii_headers_the_fuzz_found_are_400s(target: Target, header: bytes) -> None:
    request = _webhook("unsigned", _valid_event().encode(), header, {400})
    assert _send(target.port, request) == (400, b"malformed Stripe-Signature header")
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("where", "fragment", "reason"),
    [
        ("metadata", "1e400", b"number out of range"),
        ("id", '"evt_\\ud800"', b"lone surrogate in a string"),
        ("type", '"customer.updated\\udc00"', b"lone surrogate in a string"),
        ("customer", '"cus_\\ud800"', b"lone surrogate in a string"),
        ("metadata", "[" * 950 + "]" * 950, b"nesting too deep"),
        ("metadata", '{"a": ' * 5000 + "1" + "}" * 5000, b"nesting too deep"),
        # The probe's: nesting hidden in strings, with a NUL (a RecursionError, a 500).
        ("metadata", '["]",' * 1200 + '"\\u0000"' + ',"["]' * 1200, b"nesting too deep"),
        ("metadata", '["]",' * 150 + "1" + ',"["]' * 150, b"nesting too deep"),
    ],
)
def test_the_signed_bodies_the_fuzz_found_are_400s(
    target: Target, where: str, fragment: str, reason: bytes
) -> None:
    request = _webhook("signed", *_signed(hostile_event_body(where, fragment)), {400})
    assert _send(target.port, request) == (400, reason)
    assert not WebhookEvent.objects.exists()


def test_the_probes_bad_return_url_is_processed(target: Target) -> None:
    where = ("billing_portal.session.created", "return_url")
    request = _webhook("bad url", *_signed(bad_url_event_body(where, "http://[")), {200})
    assert _send(target.port, request) == (200, b"processed")
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


@pytest.mark.parametrize(
    ("form", "referer"),
    [({"return_to": "http://["}, None), ({"flow": "nonsense"}, "http://[")],
)
def test_the_probes_redirects_are_not_500s(
    signed_in: Target, form: dict[str, str], referer: str | None
) -> None:
    request = _with_cookie(
        _portal_post(form, referer, csrf=True, accept_json=False), signed_in.cookie
    )
    status, _ = _send(signed_in.port, request)
    assert status in (302, 303)


def test_hostile_requests_to_gunicorn_never_answer_500(signed_in: Target) -> None:
    tally = Tally()
    batches = max(1, -(-REQUESTS // BATCH))

    @settings(
        max_examples=batches,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(any_request, min_size=BATCH, max_size=BATCH))
    def run_batch(batch: list[Request]) -> None:
        requests = [_with_cookie(request, signed_in.cookie) for request in batch]
        before = WebhookEvent.objects.count()
        with ThreadPoolExecutor(CLIENTS) as pool:
            timed = list(pool.map(lambda request: _timed_send(signed_in.port, request), requests))
        answers = [(status, answer) for status, answer, _ in timed]
        tally.sent += len(requests)
        for request, (status, answer, took) in zip(requests, timed, strict=True):
            tally.by_status[status] = tally.by_status.get(status, 0) + 1
            tally.by_kind.setdefault(request.kind, []).append(took)
            assert status != 500, (
                request.kind,
                request.path[:200],
                answer[:300],
                signed_in.log.read_text()[-3000:],
            )
            assert status in request.allowed, (
                request.kind,
                request.path[:200],
                status,
                answer[:300],
            )
        stored = WebhookEvent.objects.count() - before
        webhook_200s = sum(
            1
            for request, (status, answer) in zip(requests, answers, strict=True)
            if request.path == WEBHOOK_URL and status == 200 and answer != b"duplicate"
        )
        assert stored == webhook_200s

    run_batch()
    elapsed = time.monotonic() - tally.started
    print(
        f"\n{tally.sent:,} requests in {elapsed:.0f} s ({tally.sent / elapsed:.0f}/s): "
        + ", ".join(f"{count:,} x {status}" for status, count in sorted(tally.by_status.items()))
        + "\n"
        + ", ".join(
            f"{kind} {len(took):,} ({1000 * sum(took) / len(took):.0f} ms)"
            for kind, took in sorted(tally.by_kind.items())
        )
    )
    assert tally.sent >= REQUESTS
    assert 500 not in tally.by_status
