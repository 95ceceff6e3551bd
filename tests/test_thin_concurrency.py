"""Stripe's migration runs a snapshot endpoint and a thin destination at once: the same
change arriving through both doors at the same instant, on PostgreSQL, is dispatched once.

Each delivery runs in its own thread with its own database connection. The first
receiver to run holds its transaction open (the new row uncommitted) until every other
delivery has reached ``receive_event``: the rest can only learn of the change from the
database's unique index, not from a status read before."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import responses as responses_lib
from django.conf import settings
from django.db import connection, connections
from django.test import Client, override_settings

from django_stripe_portal import signals
from django_stripe_portal.models import StripeSubscription, WebhookEvent
from django_stripe_portal.views import webhook as webhook_view
from django_stripe_portal.webhooks import event_destination
from tests import stripe_objects as so
from tests.thin_support import DESTINATION_SECRET, answer, notification_of, post_thin, v2_event
from tests.webhook_support import post_signed

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
    pytest.mark.django_db(transaction=True),
]

PER_DOOR = 8


@pytest.fixture(autouse=True)
def _destination_secret() -> Iterator[None]:
    portal = {**settings.STRIPE_PORTAL, "EVENT_DESTINATION_SECRETS": [DESTINATION_SECRET]}
    with override_settings(STRIPE_PORTAL=portal):
        yield


class _Arrivals:
    """Counts the deliveries that reached ``receive_event``, and lets a receiver wait
    for all of them."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.condition = threading.Condition()

    def wrap(self, receive: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self.condition:
                self.count += 1
                self.condition.notify_all()
            return receive(*args, **kwargs)

        return counted

    def wait_for_all_but_one(self) -> bool:
        with self.condition:
            return self.condition.wait_for(lambda: self.count >= self.expected, timeout=60)


def _run_together(calls: list[Callable[[], int]]) -> list[int]:
    barrier = threading.Barrier(len(calls))
    codes: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], int]) -> None:
        try:
            barrier.wait()
            code = call()
            with lock:
                codes.append(code)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return codes


def test_snapshot_and_thin_at_the_same_instant_dispatch_once(
    stripe_mock: responses_lib.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = int(time.time())
    before = so.subscription(customer="cus_race")
    assert (
        post_signed(
            Client(), so.event("customer.subscription.created", before, created=created - 60)
        ).status_code
        == 200
    )
    after = {**before, "cancel_at_period_end": True}
    snapshot = so.event(
        "customer.subscription.updated",
        after,
        previous_attributes={"cancel_at_period_end": False},
        created=created,
    )
    thin = v2_event(
        "v1.customer.subscription.updated",
        after,
        changes={
            "before": {"cancel_at_period_end": False},
            "after": {"cancel_at_period_end": True},
        },
        snapshot_event=snapshot["id"],
        created=created,
    )
    answer(stripe_mock, thin, after)

    arrivals = _Arrivals(expected=2 * PER_DOOR)
    monkeypatch.setattr(webhook_view, "receive_event", arrivals.wrap(webhook_view.receive_event))
    monkeypatch.setattr(
        event_destination, "receive_event", arrivals.wrap(event_destination.receive_event)
    )
    dispatched: list[tuple[str, str]] = []
    everyone_arrived: list[bool] = []

    def hold_the_row(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        dispatched.append((event.stripe_id, event.received_via))
        everyone_arrived.append(arrivals.wait_for_all_but_one())

    signals.subscription_cancel_scheduled.connect(hold_the_row, weak=False)
    try:
        codes = _run_together(
            [lambda: int(post_signed(Client(), snapshot).status_code)] * PER_DOOR
            + [lambda: int(post_thin(Client(), notification_of(thin)).status_code)] * PER_DOOR
        )
    finally:
        signals.subscription_cancel_scheduled.disconnect(hold_the_row)

    assert len(dispatched) == 1, dispatched
    assert everyone_arrived == [True], "every delivery reached the insert while the row was held"
    assert Counter(codes) == Counter({200: 2 * PER_DOOR})
    row = WebhookEvent.objects.get(stripe_id=snapshot["id"])
    assert (row.status, row.attempts) == (WebhookEvent.Status.PROCESSED, 1)
    assert WebhookEvent.objects.filter(type="customer.subscription.updated").count() == 1
    assert StripeSubscription.objects.get(stripe_id=after["id"]).cancel_at_period_end is True
