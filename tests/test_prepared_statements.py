"""On PostgreSQL with ``OPTIONS["prepare_threshold"]``, the statements a delivery sends
(the event's INSERT, the subscription's upsert) are prepared once per connection and sent
prepared after; with Django's default (None) nothing is. What a delivery stores, answers
and dispatches is the same either way: rows, redeliveries, failed state writes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.webhooks import state_writes
from tests import stripe_objects as so
from tests.webhook_support import Recorder, connected, post_signed

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements"),
    pytest.mark.django_db(transaction=True),  # each delivery commits, as in production
]
EVENTS = 'INSERT INTO "django_stripe_portal_webhookevent"'
SUBSCRIPTIONS = 'INSERT INTO "django_stripe_portal_stripesubscription"'


@pytest.fixture
def threshold(request: pytest.FixtureRequest) -> Iterator[int | None]:
    """The connection's ``prepare_threshold`` for the test (what ``OPTIONS`` sets), with
    nothing prepared on it yet."""
    connection.ensure_connection()
    raw: Any = connection.connection
    before = raw.prepare_threshold
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    raw._prepared.clear()  # psycopg's own record of what it prepared (deallocated above)
    raw.prepare_threshold = request.param
    try:
        yield request.param
    finally:
        raw.prepare_threshold = before


def _prepared() -> list[str]:
    """The statements prepared on this connection by the protocol (psycopg), not by SQL."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE NOT from_sql")
        return [row[0] for row in cursor.fetchall()]


def _updates(count: int, first: int) -> list[dict[str, Any]]:
    """``count`` updates of one subscription, a second apart, each with a new quantity."""
    return [
        so.event(
            "customer.subscription.updated",
            so.subscription(id="sub_prepared", customer="cus_prepared", items=[("price_a", n)]),
            previous_attributes={"quantity": n - 1},
            created=first + n,
        )
        for n in range(1, count + 1)
    ]


def _newest_written() -> int:
    """The ``created`` of the event whose state the subscription's row holds."""
    row = StripeSubscription.objects.get(stripe_id="sub_prepared")
    return int(row.event_created_at.timestamp())


def _deliver(client: Client, events: list[dict[str, Any]]) -> list[int]:
    return [post_signed(client, event).status_code for event in events]


@pytest.mark.parametrize("threshold", [5], indirect=True)
def test_repeated_deliveries_send_the_insert_and_upsert_prepared(
    client: Client, threshold: int
) -> None:
    events = _updates(12, int(time.time()) - 600)
    received = Recorder()

    with connected(signals.webhook_received, received):
        assert _deliver(client, events) == [200] * 12
        assert _deliver(client, events[:3]) == [200] * 3  # redeliveries

    prepared = _prepared()
    assert any(statement.startswith(EVENTS) for statement in prepared), prepared
    assert any(statement.startswith(SUBSCRIPTIONS) for statement in prepared), prepared
    assert "$1" in next(s for s in prepared if s.startswith(EVENTS))  # values bound apart
    # Stored once each, dispatched once each, the newest state kept.
    assert WebhookEvent.objects.filter(status="processed").count() == 12
    assert [call["event"].stripe_id for call in received.calls] == [e["id"] for e in events]
    assert _newest_written() == events[-1]["created"]


@pytest.mark.parametrize("threshold", [None], indirect=True)
def test_nothing_is_prepared_with_prepare_threshold_none(client: Client, threshold: None) -> None:
    events = _updates(12, int(time.time()) - 600)

    assert _deliver(client, events) == [200] * 12
    assert _deliver(client, events[:3]) == [200] * 3

    assert _prepared() == []
    assert WebhookEvent.objects.filter(status="processed").count() == 12
    assert _newest_written() == events[-1]["created"]


@pytest.mark.parametrize("threshold", [0], indirect=True)
def test_logged_statements_keep_their_values_and_their_count(
    client: Client, threshold: int
) -> None:
    """Where Django logs statements (DEBUG, CaptureQueriesContext) they are bound on the
    client: the log shows each one with its values, as sent."""
    (event,) = _updates(1, int(time.time()) - 600)

    with CaptureQueriesContext(connection) as queries:
        assert _deliver(client, [event]) == [200]

    sent = [query["sql"] for query in queries.captured_queries]
    assert [sql.split()[0] for sql in sent] == ["BEGIN", "INSERT", "INSERT", "COMMIT"]
    assert event["id"] in sent[1]
    assert _prepared() == []


@pytest.mark.parametrize("threshold", [0], indirect=True)
def test_a_failed_state_write_after_prepared_statements_leaves_later_deliveries_working(
    client: Client, threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failure rolls the transaction back (psycopg then drops what it prepared on the
    connection); the event is stored as failed, and the next deliveries are prepared again."""
    first, failing, *later = _updates(4, int(time.time()) - 600)
    assert _deliver(client, [first]) == [200]
    assert _prepared()

    original = state_writes.SubscriptionStateWrite.run

    def fails(self: Any) -> Any:
        original(self)  # the upsert is sent, then the write fails
        raise RuntimeError("state write failed")

    monkeypatch.setattr(state_writes.SubscriptionStateWrite, "run", fails)
    assert _deliver(client, [failing]) == [500]
    monkeypatch.setattr(state_writes.SubscriptionStateWrite, "run", original)

    assert _deliver(client, later) == [200, 200]
    assert _deliver(client, [failing]) == [200]  # Stripe's retry processes it

    statuses = dict(WebhookEvent.objects.values_list("stripe_id", "status"))
    assert statuses == {event["id"]: "processed" for event in [first, failing, *later]}
    assert _newest_written() == later[-1]["created"]
    prepared = _prepared()
    assert any(statement.startswith(EVENTS) for statement in prepared), prepared
