"""A bounded fuzz run against a real gunicorn on PostgreSQL: the setting in which 251 of
3,000 hostile requests answered 500. Headers are sent as raw bytes (non-ASCII ones
reach Django latin-1 decoded), bodies signed or not; every answer is 200 or 400,
and exactly the 200s left a row."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.testing import sign_payload
from tests import stripe_objects as so
from tests.hostile_json import (
    HOSTILE_SPOTS,
    header_texts,
    hostile_event_body,
    hostile_fragments,
    non_ascii_header_texts,
)
from tests.process_support import child_env, gunicorn
from tests.webhook_support import SECRET, WEBHOOK_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.off_contract,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
]

REQUESTS = 300


@pytest.fixture(scope="module")
def server(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Path]]:
    log = tmp_path_factory.mktemp("gunicorn_fuzz") / "gunicorn.log"
    with gunicorn("tests.wsgi:application", child_env("tests.settings"), log) as port:
        yield port, log


def _deliver(port: int, body: bytes, header: bytes | None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.putrequest("POST", WEBHOOK_URL)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        if header is not None:
            conn.putheader("Stripe-Signature", header)  # bytes: sent exactly as given
        conn.endheaders(body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _signed(body: str) -> tuple[bytes, bytes]:
    return body.encode(), sign_payload(body, SECRET, timestamp=int(time.time())).encode()


def _valid_event() -> str:
    sub = so.subscription(metadata={"note": "café 😀 [{"}, quantity=2)
    event = so.event("customer.subscription.updated", sub, previous_attributes={"quantity": 1})
    return json.dumps(event)


@pytest.mark.parametrize(
    "header",
    [
        "t=²,v1=00".encode(),  # UTF-8 bytes: Django reads "t=Â²,v1=00"
        "t=1,v1=é".encode(),
        b"t=\xb2,v1=00",  # one latin-1 byte: Django reads "t=²,v1=00"
        b"t=1,v1=\xe9" + b"0" * 63,
    ],
)
def test_the_non_ascii_headers_the_fuzz_found_are_400s(
    server: tuple[int, Path], header: bytes
) -> None:
    port, _ = server
    status, answer = _deliver(port, _valid_event().encode(), header)
    assert (status, answer) == (400, b"malformed Stripe-Signature header")
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
    ],
)
def test_the_signed_bodies_the_fuzz_found_are_400s(
    server: tuple[int, Path], where: str, fragment: str, reason: bytes
) -> None:
    port, _ = server
    body, header = _signed(hostile_event_body(where, fragment))
    assert _deliver(port, body, header) == (400, reason)
    assert not WebhookEvent.objects.exists()


# Header values that HTTP can carry: no CR, LF or NUL.
_header_bytes = (
    (non_ascii_header_texts | header_texts)
    .map(lambda text: text.encode("utf-8", "surrogatepass"))
    .filter(lambda raw: not any(byte in raw for byte in b"\r\n\x00"))
)

deliveries = st.one_of(
    # Signed, with a hostile fragment somewhere in the event.
    st.builds(
        lambda where, fragment: (_signed(hostile_event_body(where, fragment)), "signed"),
        st.sampled_from(HOSTILE_SPOTS),
        hostile_fragments,
    ),
    # A real event, with a signature header that is garbage (often non-ASCII).
    st.builds(lambda header: ((_valid_event().encode(), header), "unsigned"), _header_bytes),
    # A real event, signed, with non-ASCII and escaped text: must be kept.
    st.just("valid").map(lambda _: (_signed(_valid_event()), "valid")),
)


@settings(
    max_examples=REQUESTS,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries)
def test_hostile_requests_to_gunicorn_never_answer_500(
    server: tuple[int, Path], delivery: tuple[tuple[bytes, bytes], str]
) -> None:
    port, log = server
    (body, header), kind = delivery
    before = WebhookEvent.objects.count()
    status, answer = _deliver(port, body, header)
    assert status in (200, 400), (status, answer, log.read_text()[-2000:])
    stored = WebhookEvent.objects.count() - before
    assert stored == (1 if status == 200 else 0), (kind, status, answer)
    if kind == "unsigned":
        assert status == 400, answer
    if kind == "valid":
        assert (status, stored) == (200, 1), answer
