"""Nesting that hides inside strings, and NULs at depth (issue 22, items 1 and 2).

``["]",`` opens an array whose string holds a ``]``: a count of the raw brackets sees it
closed again, the decoder sees one level deeper. Bodies built of it passed the old
raw-byte test, were stored 150 to 1,400 levels deep, and with a NUL anywhere the
recursive NUL scrub raised ``RecursionError`` (a 500 Stripe retries for three days).
Now the depth is measured exactly (strings taken out first), nothing walks the
decoded value recursively, and the admin shows a deep stored row.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_stripe_portal.admin.records import indented_json
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.testing import sign_payload
from django_stripe_portal.webhooks.parse import MAX_NESTING
from tests import stripe_objects as so
from tests.webhook_support import SECRET, post_raw

pytestmark = [pytest.mark.django_db, pytest.mark.off_contract]


def hidden(levels: int, inner: str = "1") -> str:
    """``levels`` arrays deep, with every bracket balanced by one inside a string."""
    return '["]",' * levels + inner + ',"["]' * levels


def _event_with_metadata(fragment: str) -> str:
    event = so.event(
        "customer.subscription.updated", so.subscription(), previous_attributes={"quantity": 1}
    )
    event["data"]["object"]["metadata"] = {"fuzz": "__here__"}
    return json.dumps(event).replace('"__here__"', fragment, 1)


def _post(client: Client, body: str) -> tuple[int, bytes]:
    response = post_raw(client, body, sign_payload(body, SECRET))
    return response.status_code, response.content


def test_the_hidden_nesting_counts_as_balanced_in_the_raw_bytes() -> None:
    """What made the old test pass: as many closing brackets as opening ones."""
    body = _event_with_metadata(hidden(1200))
    assert body.count("[") + body.count("{") == body.count("]") + body.count("}")


@pytest.mark.parametrize(
    "fragment",
    [
        hidden(1200, '"\\u0000"'),  # the probe's body: deeper than the decoder goes
        hidden(900, '"\\u0000"'),  # decoded, then (before) scrubbed recursively → 500
        hidden(900, '{"a\\u0000": 1}'),  # a NUL in a key at depth
        hidden(150),  # stored before: deeper than the documented 100
        hidden(1403),
        '{"hide": "' + "]" * 200 + '", "deep": ' + "[" * 150 + "]" * 150 + "}",
        hidden(60, "[" * 60 + "]" * 60),  # hidden and plain depth together
    ],
    ids=["probe-1200-nul", "900-nul", "900-nul-key", "150", "1403", "closers", "mixed"],
)
def test_hidden_nesting_past_the_limit_is_refused_and_nothing_stored(
    client: Client, fragment: str
) -> None:
    body = _event_with_metadata(fragment)
    assert _post(client, body) == (400, b"nesting too deep")
    assert not WebhookEvent.objects.exists()
    assert not StripeSubscription.objects.exists()


def test_nesting_of_exactly_the_limit_is_kept_with_its_nul_replaced(client: Client) -> None:
    # The event object is 1 level, data 2, data.object 3, metadata 4, then the arrays.
    levels = MAX_NESTING - 4
    body = _event_with_metadata(hidden(levels, '"a\\u0000b"'))
    assert _post(client, body) == (200, b"processed")
    value = WebhookEvent.objects.get().payload["data"]["object"]["metadata"]["fuzz"]
    for _ in range(levels - 1):
        assert value[0] == "]"
        value = value[1]
    assert value == ["]", "a\ufffdb", "["]


def test_one_level_more_is_refused(client: Client) -> None:
    body = _event_with_metadata(hidden(MAX_NESTING - 3))
    assert _post(client, body) == (400, b"nesting too deep")


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ('"a\\u0000b"', "a\ufffdb"),
        ('"a\\\\u0000b"', "a\\u0000b"),  # an escaped backslash, then the letters u0000
        ('"a\\\\\\u0000b"', "a\\\ufffdb"),  # an escaped backslash, then a NUL
        ('"\\u0000\\u0000"', "\ufffd\ufffd"),
    ],
)
def test_nul_escapes_are_replaced_exactly(client: Client, written: str, kept: str) -> None:
    body = _event_with_metadata(written)
    assert _post(client, body) == (200, b"processed")
    assert WebhookEvent.objects.get().payload["data"]["object"]["metadata"]["fuzz"] == kept


def _deep_value(levels: int) -> object:
    value: object = "bottom <script>"
    for _ in range(levels):
        value = {"a": [value]}
    return value


def test_indented_json_matches_json_dumps_where_json_dumps_can() -> None:
    for value in (
        {},
        [],
        {"b": [1, {"a": None, "c": "é"}], "a": [], "z": {}},
        [1.5, True, "x", [[]]],
        "text",
        3,
        _deep_value(10),
    ):
        assert indented_json(value) == json.dumps(
            value, indent=2, sort_keys=True, ensure_ascii=False
        )


def test_indented_json_of_a_deep_value_does_not_recurse() -> None:
    text = indented_json(_deep_value(3000))
    assert text.count('"a"') == 3000
    assert len(text) < 1_000_000  # indentation stops growing: not the square of the depth


def test_the_admin_shows_a_stored_row_deeper_than_python_recurses(client: Client) -> None:
    """Rows stored before the limit held may be deep: the change page must still open.
    Written straight to the database, as an old row would be: 450 levels of
    ``{"a": [...]}`` are 900 levels of JSON, which the C encoder and decoder take but
    ``json.dumps(indent=2)`` (pure Python, a frame a level) does not, below a view."""
    event = so.event("customer.updated", so.customer())
    event["data"]["object"]["metadata"] = _deep_value(450)
    row = WebhookEvent.objects.create(
        stripe_id=event["id"],
        type=event["type"],
        livemode=False,
        created_at=timezone.now(),
        payload=event,
        status=WebhookEvent.Status.PROCESSED,
    )
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    url = reverse("admin:django_stripe_portal_webhookevent_change", args=[row.pk])
    response = client.get(url)
    assert response.status_code == 200
    assert "bottom &lt;script&gt;" in response.content.decode()
