"""Regression tests for what fuzzing found: inputs that answered 500 (and so, signed,
made Stripe retry a delivery that could never succeed). Each is now a 400 with the
reason, and nothing is stored; the near misses that are fine Stripe JSON still pass."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.testing import sign_payload
from django_stripe_portal.webhooks.parse import MAX_NESTING
from tests import stripe_objects as so
from tests.webhook_support import SECRET, post_raw

pytestmark = pytest.mark.django_db


def _sign_bytes(body: bytes) -> str:
    """``sign_payload`` for a body that is not UTF-8 (Stripe's helper decodes it first)."""
    timestamp = int(time.time())
    digest = hmac.new(SECRET.encode(), b"%d." % timestamp + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _post_signed_bytes(client: Client, body: bytes) -> Any:
    return post_raw(client, body, _sign_bytes(body))


def _sub_event_text(**fields: Any) -> str:
    sub = so.subscription(**fields)
    return json.dumps(
        so.event("customer.subscription.updated", sub, previous_attributes={"quantity": 1})
    )


@pytest.mark.parametrize(
    "header",
    ["t=²,v1=00", "t=1,v1=é", "t=1²,v1=" + "0" * 64, "t=1,v1=" + "é" * 64, "v1=ü,t=١٢٣"],
)
def test_non_ascii_signature_headers_are_refused(client: Client, header: str) -> None:
    body = _sub_event_text()
    response = post_raw(client, body, header)
    assert (response.status_code, response.content) == (400, b"malformed Stripe-Signature header")
    assert not WebhookEvent.objects.exists()


def test_a_signature_header_of_utf8_bytes_read_as_latin1_is_refused(client: Client) -> None:
    """Under WSGI a header's bytes arrive latin-1 decoded (PEP 3333): é is 'Ã©'."""
    body = _sub_event_text()
    valid = sign_payload(body, SECRET)
    mangled = (valid + ",v1=é").encode().decode("latin-1")
    response = post_raw(client, body, mangled)
    assert response.status_code == 400
    assert not WebhookEvent.objects.exists()


# Malformed and hostile payloads on purpose: none of them is something Stripe would send.
hostile = pytest.mark.off_contract


def _deep(levels: int, opener: str = "[", closer: str = "]") -> str:
    return opener * levels + closer * levels


@hostile
@pytest.mark.parametrize(
    ("replace", "by", "reason"),
    [
        ('"quantity": 1', '"quantity": 1e400', b"number out of range"),
        ('"quantity": 1', '"quantity": -1e400', b"number out of range"),
        ('"quantity": 1', '"quantity": 1.5e999999', b"number out of range"),
        ('"metadata": {}', '"metadata": {"note": "\\ud800"}', b"lone surrogate in a string"),
        ('"metadata": {}', '"metadata": {"\\udfff": "key"}', b"lone surrogate in a string"),
        (
            '"metadata": {}',
            '"metadata": {"n": "\\ud83d\\ud83d\\ude00"}',
            b"lone surrogate in a string",
        ),
        ('"metadata": {}', '"metadata": {"n": "\\\\\\uDBFF"}', b"lone surrogate in a string"),
        ('"customer": "cus_test"', '"customer": "cus_\\ud800"', b"lone surrogate in a string"),
        ('"metadata": {}', f'"metadata": {{"deep": {_deep(950)}}}', b"nesting too deep"),
        ('"metadata": {}', f'"metadata": {{"deep": {_deep(5000)}}}', b"nesting too deep"),
        ('"metadata": {}', f'"metadata": {{"deep": {_deep(200_000)}}}', b"nesting too deep"),
        ('"metadata": {}', f'"metadata": {{"deep": {_deep(MAX_NESTING)}}}', b"nesting too deep"),
        (
            '"metadata": {}',
            '"metadata": {"deep": ' + '{"a": ' * 960 + "1" + "}" * 960 + "}",
            b"nesting too deep",
        ),
        (
            # Brackets inside strings that would hide the depth from a raw count.
            '"metadata": {}',
            '"metadata": {"hide": "' + "]" * 900 + '", "deep": ' + _deep(900) + "}",
            b"nesting too deep",
        ),
        (
            '"metadata": {}',
            '"metadata": {"deep": ' + _deep(900) + ', "nul": "a\\u0000b"}',
            b"nesting too deep",
        ),
    ],
)
def test_signed_bodies_postgresql_or_python_cannot_take_are_refused(
    client: Client, replace: str, by: str, reason: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    body = _sub_event_text()
    assert replace in body
    body = body.replace(replace, by, 1)
    with caplog.at_level(logging.WARNING, logger="django_stripe_portal.webhooks"):
        response = post_raw(client, body, sign_payload(body, SECRET))
    assert (response.status_code, response.content) == (400, reason)
    assert not WebhookEvent.objects.exists()
    assert not StripeSubscription.objects.exists()
    (refusal,) = [r for r in caplog.records if "refused (400)" in r.getMessage()]
    assert reason.decode() in refusal.getMessage()


@hostile
@pytest.mark.parametrize("field", ["id", "type"])
def test_a_lone_surrogate_in_the_envelope_is_refused(client: Client, field: str) -> None:
    event = json.loads(_sub_event_text())
    event[field] = event[field] + "\ud800"
    body = json.dumps(event)  # ensure_ascii: written as the escape \ud800
    assert "\\ud800" in body
    response = post_raw(client, body, sign_payload(body, SECRET))
    assert (response.status_code, response.content) == (400, b"lone surrogate in a string")
    assert not WebhookEvent.objects.exists()


@hostile
def test_a_raw_utf8_encoded_surrogate_is_refused(client: Client) -> None:
    """Not valid UTF-8; ``json.loads(bytes)`` would have decoded it with surrogatepass."""
    body = (
        _sub_event_text().encode().replace(b'"metadata": {}', b'"metadata": {"n": "\xed\xa0\x80"}')
    )
    response = _post_signed_bytes(client, body)
    assert (response.status_code, response.content) == (400, b"body is not JSON")
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "text",
    [
        "café 😀",  # raw UTF-8
        "😀 in a pair",  # written by json.dumps as the escapes \ud83d\ude00
        "\\ud800 is only letters after an escaped backslash",
        "[[[[[[ {{{{ brackets in a string ]]]]",
    ],
)
def test_what_stripe_can_send_still_passes(client: Client, text: str) -> None:
    """Near misses of the refusals above: valid Unicode and shallow JSON are kept."""
    sub = so.subscription(metadata={"note": text}, quantity=2)
    event = so.event("customer.subscription.updated", sub, previous_attributes={"quantity": 1})
    for ascii_only in (True, False):
        event["id"] = so.unique_id("evt")
        body = json.dumps(event, ensure_ascii=ascii_only)
        response = post_raw(client, body, sign_payload(body, SECRET))
        assert response.status_code == 200, response.content
        stored = WebhookEvent.objects.get(stripe_id=event["id"])
        assert stored.payload["data"]["object"]["metadata"]["note"] == text


def test_a_big_subscription_is_checked_exactly_and_kept(client: Client) -> None:
    """More brackets than MAX_NESTING, shallow: passes the raw-byte test and is kept."""
    sub = so.subscription(items=[(f"price_{index}", 1) for index in range(12)])
    event = so.event("customer.subscription.updated", sub, previous_attributes={})
    body = json.dumps(event)
    assert body.count("{") + body.count("[") > MAX_NESTING
    response = post_raw(client, body, sign_payload(body, SECRET))
    assert response.status_code == 200
    assert WebhookEvent.objects.filter(stripe_id=event["id"]).exists()


def _refuse_inserts(table: str, name: str, when: str = "") -> None:
    """A trigger that makes the database refuse inserts into ``table`` (a full disk,
    a revoked grant): a real failure, rolled back with the test's transaction."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{name}: insert refused'; END $$"
            )
            condition = f"WHEN ({when})" if when else ""
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} FOR EACH ROW {condition} "
                f"EXECUTE FUNCTION {name}()"
            )
        else:
            condition = f"WHEN {when}" if when else ""
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE INSERT ON {table} {condition} "
                f"BEGIN SELECT RAISE(ABORT, '{name}: insert refused'); END"
            )


@pytest.mark.parametrize("fallback_fails", [False, True])
def test_the_log_says_stored_as_failed_only_when_it_was(
    client: Client, caplog: pytest.LogCaptureFixture, fallback_fails: bool
) -> None:
    # The subscription write fails, so the dispatch transaction is rolled back ...
    _refuse_inserts(StripeSubscription._meta.db_table, "refuse_subscription_write")
    if fallback_fails:
        # ... and the fallback that keeps the event as failed is refused as well.
        _refuse_inserts(
            WebhookEvent._meta.db_table, "refuse_failed_event", when="NEW.status = 'failed'"
        )
    event = so.event("customer.subscription.updated", so.subscription(), previous_attributes={})
    body = json.dumps(event)
    with caplog.at_level(logging.ERROR, logger="django_stripe_portal.webhooks"):
        response = post_raw(client, body, sign_payload(body, SECRET))

    (logged,) = [r for r in caplog.records if event["id"] in r.getMessage()]
    assert logged.levelno == logging.ERROR
    assert logged.exc_info is not None
    if fallback_fails:
        assert (response.status_code, response.content) == (
            503,
            b"the event could not be stored; retry later",
        )
        assert "stored as failed" not in logged.getMessage()
        assert "could not be stored either" in logged.getMessage()
        assert not WebhookEvent.objects.exists()
    else:
        assert response.status_code == 500
        assert "stored as failed" in logged.getMessage()
        row = WebhookEvent.objects.get(stripe_id=event["id"])
        assert row.status == WebhookEvent.Status.FAILED
        assert "refuse_subscription_write" in row.last_error
