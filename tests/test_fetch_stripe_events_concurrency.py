"""Catch-up beside live deliveries of the same events, on PostgreSQL: each event is
dispatched once, whoever stores it first (the store-once insert decides)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from io import StringIO
from typing import Any

import pytest
import responses
from django.core.management import call_command
from django.db import connection, connections
from django.test import Client

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from tests import stripe_objects as so
from tests.fake_stripe_events import FakeStripeEvents
from tests.webhook_support import post_signed

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
    pytest.mark.django_db(transaction=True),
]

EVENTS = 80
DELIVERY_THREADS = 4


def test_catch_up_beside_live_deliveries_dispatches_each_event_once(
    stripe_mock: responses.RequestsMock,
) -> None:
    fake = FakeStripeEvents(stripe_mock).install()
    subscriptions = [so.unique_id("sub") for _ in range(EVENTS // 4)]
    start = int(time.time()) - 3600
    created = [
        fake.create(
            "customer.subscription.updated",
            so.subscription(id=subscriptions[step % len(subscriptions)], items=[("p", step + 1)]),
            previous_attributes={"items": {"data": []}},
            created=start + step,
            delivered=False,
        )
        for step in range(EVENTS)
    ]
    dispatched: Counter[str] = Counter()
    lock = threading.Lock()

    def count(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        with lock:
            dispatched[event.stripe_id] += 1

    barrier = threading.Barrier(DELIVERY_THREADS + 1)
    codes: list[int] = []
    errors: list[BaseException] = []
    output = StringIO()

    def deliver(order: list[dict[str, Any]]) -> None:
        client = Client()
        try:
            barrier.wait()
            for event in order:
                code = post_signed(client, event).status_code
                with lock:
                    codes.append(code)
        except BaseException as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    def catch_up() -> None:
        try:
            barrier.wait()
            call_command("fetch_stripe_events", "--hours", "2", stdout=output, stderr=StringIO())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    # The deliveries carry three quarters of the listed events (half the threads in the
    # catch-up's order, the same ids at once; half from the end), so the last quarter can
    # only be stored by the catch-up, whatever the timing.
    delivered = created[: EVENTS * 3 // 4]
    orders = [delivered if n % 2 == 0 else delivered[::-1] for n in range(DELIVERY_THREADS)]
    threads = [threading.Thread(target=deliver, args=(order,)) for order in orders]
    threads.append(threading.Thread(target=catch_up))
    signals.webhook_received.connect(count, weak=False)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        signals.webhook_received.disconnect(count)

    assert not errors, errors
    assert dispatched == Counter({event["id"]: 1 for event in created})
    assert Counter(codes) == Counter({200: len(delivered) * DELIVERY_THREADS})
    rows = WebhookEvent.objects.all()
    assert {row.status for row in rows} == {WebhookEvent.Status.PROCESSED}
    via = Counter(row.received_via for row in rows)
    assert sum(via.values()) == EVENTS
    # Whoever stored the delivered ones (the race), the undelivered quarter came by catch-up.
    assert via["events_api"] >= EVENTS - len(delivered), via
    summary = output.getvalue().strip().splitlines()[-1]
    assert summary == (
        f"Listed {EVENTS} event(s): {via['events_api']} new, "
        f"{EVENTS - via['events_api']} already stored, 0 failed."
    )
    # The newest event of each subscription won, whichever path stored it.
    for sub_id in subscriptions:
        newest = max(
            (event for event in created if event["data"]["object"]["id"] == sub_id),
            key=lambda event: event["created"],
        )
        row = StripeSubscription.objects.get(stripe_id=sub_id)
        assert row.items[0]["quantity"] == newest["data"]["object"]["items"]["data"][0]["quantity"]
