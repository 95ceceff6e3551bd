"""Catch-up writes a page's subscriptions before its first event is processed
(``state.subscription_batch``), in one statement on PostgreSQL and in one statement of one
text per subscription on SQLite (compiled once, no round trip): each row still keeps its
own rule (never older, never another account's), a subscription
named twice in the page is written one event at a time, and an event that fails has its
row put back as it was."""

from __future__ import annotations

import datetime as dt
import time
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.factories import StripeSubscriptionFactory
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import connected, fail_after_dispatching

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status
HOUR = 3600


def fetch() -> str:
    out = StringIO()
    call_command("fetch_stripe_events", "--hours", "2", stdout=out, stderr=StringIO())
    return out.getvalue()


def _updates(fake: FakeStripeEvents, plan: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Undelivered quantity changes, a second apart: (subscription, quantity) each."""
    start = int(time.time()) - HOUR
    return [
        fake.create(
            "customer.subscription.updated",
            so.subscription(id=sub_id, items=[("price_basic", quantity)]),
            previous_attributes={"items": {"data": []}},
            created=start + step,
            delivered=False,
        )
        for step, (sub_id, quantity) in enumerate(plan)
    ]


def _quantity(sub_id: str) -> int:
    return int(StripeSubscription.objects.get(stripe_id=sub_id).items[0]["quantity"])


def _subscription_inserts(queries: CaptureQueriesContext) -> int:
    table = StripeSubscription._meta.db_table
    return sum(1 for query in queries.captured_queries if f'INSERT INTO "{table}"' in query["sql"])


def _batch_statements(subscriptions: int) -> int:
    """PostgreSQL: one round trip for all. SQLite: one statement each, of one text."""
    return 1 if connection.vendor == "postgresql" else subscriptions


def test_distinct_subscriptions_are_written_in_one_statement(
    stripe_events: FakeStripeEvents,
) -> None:
    subs = [so.unique_id("sub") for _ in range(4)]
    _updates(stripe_events, [(sub_id, index + 1) for index, sub_id in enumerate(subs)])
    with CaptureQueriesContext(connection) as queries:
        fetch()
    assert _subscription_inserts(queries) == _batch_statements(4)
    assert [_quantity(sub_id) for sub_id in subs] == [1, 2, 3, 4]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


def test_unlogged_the_batch_is_still_one_statement_through_the_wrappers(
    stripe_events: FakeStripeEvents,
) -> None:
    """Unlogged, SQLite is sent the ``?`` text (converted once): the same upserts, one text,
    seen by every execute wrapper, and the same rows."""
    subs = [so.unique_id("sub") for _ in range(4)]
    _updates(stripe_events, [(sub_id, index + 1) for index, sub_id in enumerate(subs)])
    table = StripeSubscription._meta.db_table
    inserts: list[str] = []

    def wrapper(execute: Any, sql: str, *args: Any) -> Any:
        if f'INSERT INTO "{table}"' in sql:
            inserts.append(sql)
        return execute(sql, *args)

    with connection.execute_wrapper(wrapper):
        assert not connection.queries_logged
        fetch()

    assert len(inserts) == _batch_statements(4)
    if connection.vendor == "sqlite":
        assert len(set(inserts)) == 1
        assert "%s" not in inserts[0] and "?" in inserts[0]
    assert [_quantity(sub_id) for sub_id in subs] == [1, 2, 3, 4]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


def test_a_subscription_named_twice_is_written_one_event_at_a_time(
    stripe_events: FakeStripeEvents,
) -> None:
    a, b, c = (so.unique_id("sub") for _ in range(3))
    _updates(stripe_events, [(a, 1), (b, 5), (a, 2), (c, 7), (a, 3)])
    seen: list[tuple[str, int, int]] = []

    def stored_quantity(sender: Any, event: WebhookEvent, subscription: Any, **kwargs: Any) -> None:
        sub_id = subscription.stripe_id
        seen.append((sub_id, subscription.items[0]["quantity"], _quantity(sub_id)))

    with connected(signals.subscription_quantity_changed, stored_quantity):
        fetch()

    # Each of a's receivers sees a's row as its own event left it; b and c in their turn.
    assert seen == [(a, 1, 1), (b, 5, 5), (a, 2, 2), (c, 7, 7), (a, 3, 3)]
    assert [_quantity(sub_id) for sub_id in (a, b, c)] == [3, 5, 7]


def test_a_stale_event_in_the_batch_keeps_the_newer_row_and_reads_it(
    stripe_events: FakeStripeEvents,
) -> None:
    a, b, c = (so.unique_id("sub") for _ in range(3))
    newer = timezone.now().replace(microsecond=0)
    StripeSubscriptionFactory(
        stripe_id=b,
        customer_id="cus_test",
        status="canceled",
        items=[{"price": "price_basic", "quantity": 9}],
        event_created_at=newer,
    )
    start = int(time.time()) - HOUR
    _updates(stripe_events, [(a, 1)])
    late_deletion = stripe_events.create(
        "customer.subscription.deleted",
        so.subscription(id=b, status="canceled", items=[("price_basic", 2)]),
        created=start + 5,
        delivered=False,
    )
    stripe_events.create(
        "customer.subscription.updated",
        so.subscription(id=c, items=[("price_basic", 3)]),
        previous_attributes={"items": {"data": []}},
        created=start + 6,
        delivered=False,
    )
    canceled: list[tuple[str, int, bool]] = []

    def on_canceled(sender: Any, subscription: Any, stale: bool, **kwargs: Any) -> None:
        canceled.append((subscription.stripe_id, subscription.items[0]["quantity"], stale))

    with (
        CaptureQueriesContext(connection) as queries,
        connected(signals.subscription_canceled, on_canceled),
    ):
        fetch()

    assert _subscription_inserts(queries) == _batch_statements(3)
    # The late deletion left the newer row as it was, and its receiver got that row.
    row = StripeSubscription.objects.get(stripe_id=b)
    assert (row.items[0]["quantity"], row.event_created_at) == (9, newer)
    assert canceled == [(b, 9, True)]
    assert [_quantity(a), _quantity(c)] == [1, 3]
    assert WebhookEvent.objects.get(stripe_id=late_deletion["id"]).status == Status.PROCESSED


def test_a_failing_event_in_the_batch_has_its_row_put_back_as_it_was(
    stripe_events: FakeStripeEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = (so.unique_id("sub") for _ in range(3))
    before = timezone.now().replace(microsecond=0) - dt.timedelta(hours=3)
    StripeSubscriptionFactory(
        stripe_id=b,
        customer_id="cus_before",
        status="past_due",
        items=[{"price": "price_old", "quantity": 9}],
        event_created_at=before,
        monthly_amount=1234,
        run_rate_basis={"currency": "usd"},
    )
    listed = _updates(stripe_events, [(a, 1), (b, 2), (c, 3)])
    fail_after_dispatching(monkeypatch, listed[1]["id"])
    with CaptureQueriesContext(connection) as queries, pytest.raises(CommandError):
        fetch()

    assert _subscription_inserts(queries) == _batch_statements(3)
    row = StripeSubscription.objects.get(stripe_id=b)
    assert (row.customer_id, row.status, row.items, row.event_created_at) == (
        "cus_before",
        "past_due",
        [{"price": "price_old", "quantity": 9}],
        before,
    )
    assert (row.monthly_amount, row.run_rate_basis) == (1234, {"currency": "usd"})
    statuses = [WebhookEvent.objects.get(stripe_id=event["id"]).status for event in listed]
    assert statuses == [Status.PROCESSED, Status.FAILED, Status.PROCESSED]
    assert [_quantity(a), _quantity(c)] == [1, 3]


def test_another_accounts_subscription_in_the_batch_fails_that_event_only(
    stripe_events: FakeStripeEvents,
) -> None:
    a, b, c = (so.unique_id("sub") for _ in range(3))
    StripeSubscriptionFactory(
        stripe_id=b,
        account="acct_other",
        items=[{"price": "price_basic", "quantity": 9}],
        event_created_at=timezone.now() - dt.timedelta(hours=3),
    )
    listed = _updates(stripe_events, [(a, 1), (b, 2), (c, 3)])
    with pytest.raises(CommandError, match=r"1 event\(s\) failed"):
        fetch()

    assert _quantity(b) == 9
    assert StripeSubscription.objects.get(stripe_id=b).account == "acct_other"
    failed = WebhookEvent.objects.get(stripe_id=listed[1]["id"])
    assert failed.status == Status.FAILED
    assert "stored for the connected account acct_other" in failed.last_error
    assert [_quantity(a), _quantity(c)] == [1, 3]
