"""Exactly once under real concurrency, on PostgreSQL: 50 simultaneous deliveries of one
event from 50 threads (each with its own database connection) dispatch it once."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.webhook_support import post_signed

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
    pytest.mark.django_db(transaction=True),
]

DELIVERIES = 50


def _deliver_together(event: dict[str, Any], count: int) -> list[int]:
    """POST ``event`` from ``count`` threads released at the same instant."""
    barrier = threading.Barrier(count)
    codes: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def deliver() -> None:
        client = Client()
        try:
            barrier.wait()
            code = post_signed(client, event).status_code
            with lock:
                codes.append(code)
        except BaseException as exc:  # reported by the test, not lost in the thread
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return codes


def test_fifty_concurrent_deliveries_dispatch_once() -> None:
    sub = so.subscription(cancel_at_period_end=True)
    event = so.event(
        "customer.subscription.updated", sub, previous_attributes={"cancel_at_period_end": False}
    )
    dispatched: Counter[str] = Counter()
    count_lock = threading.Lock()

    def count_dispatch(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        with count_lock:
            dispatched[event.stripe_id] += 1

    signals.subscription_cancel_scheduled.connect(count_dispatch, weak=False)
    try:
        codes = _deliver_together(event, DELIVERIES)
    finally:
        signals.subscription_cancel_scheduled.disconnect(count_dispatch)

    assert dispatched == Counter({event["id"]: 1})
    assert Counter(codes) == Counter({200: DELIVERIES})
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.attempts) == (WebhookEvent.Status.PROCESSED, 1)
    assert StripeSubscription.objects.get(stripe_id=sub["id"]).cancel_at_period_end is True


def test_concurrent_redeliveries_of_a_failed_event_dispatch_it_once_more() -> None:
    """A failed row is retried under FOR UPDATE NOWAIT: one delivery takes it, the ones
    that find it locked answer 409 (Stripe retries them later), the rest see it done."""
    event = so.event("customer.subscription.updated", so.subscription(), previous_attributes={})

    def fail(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("first attempt fails")

    signals.webhook_received.connect(fail, weak=False)
    try:
        assert post_signed(Client(), event).status_code == 500
    finally:
        signals.webhook_received.disconnect(fail)

    dispatched: list[int] = []

    def count(sender: Any, **kwargs: Any) -> None:
        dispatched.append(1)

    signals.webhook_received.connect(count, weak=False)
    try:
        codes = _deliver_together(event, 20)
    finally:
        signals.webhook_received.disconnect(count)

    assert len(dispatched) == 1
    assert set(codes) <= {200, 409} and codes.count(200) >= 1
    row = WebhookEvent.objects.get(stripe_id=event["id"])
    assert (row.status, row.attempts) == (WebhookEvent.Status.PROCESSED, 2)


def test_first_events_of_a_new_subscription_racing_end_with_the_newest_state() -> None:
    """Twenty different events of one subscription nobody has stored yet, all delivered
    at once: every insert but one meets the uncommitted row, waits, and takes the
    update branch of the upsert; whatever the order, the newest event's state stays."""
    sub_id = so.unique_id("sub")
    created = 1_790_000_000
    events = [
        so.event(
            "customer.subscription.updated",
            so.subscription(id=sub_id, items=[("price_pro", quantity)]),
            previous_attributes={"items": {"data": []}},
            created=created + quantity,
        )
        for quantity in range(1, 21)
    ]
    barrier = threading.Barrier(len(events))
    codes: list[int] = []
    lock = threading.Lock()

    def deliver(event: dict[str, Any]) -> None:
        try:
            barrier.wait()
            code = post_signed(Client(), event).status_code
            with lock:
                codes.append(code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert codes == [200] * len(events)
    row = StripeSubscription.objects.get(stripe_id=sub_id)
    assert [item["quantity"] for item in row.items] == [20]
    assert int(row.event_created_at.timestamp()) == created + 20
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == 20
