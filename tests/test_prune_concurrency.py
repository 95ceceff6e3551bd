"""Pruning beside live deliveries, on PostgreSQL with real concurrency: threads post new
events (some created long ago, so the prune may take them at once) and redeliveries of
the events being pruned while the prune runs in small batches. Afterwards every event is
stored once, each receiver was called once, no redelivery of a pruned event dispatched
anything, and recovery still finds the stuck events (whose payloads the prune left)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client
from django.utils import timezone

from django_stripe_portal import signals
from django_stripe_portal.models import WebhookEvent
from django_stripe_portal.storage.prune import prune_payloads
from django_stripe_portal.storage.pruned import is_pruned
from django_stripe_portal.webhooks.recovery import recover_events
from tests import stripe_objects as so
from tests.webhook_support import post_signed

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
    pytest.mark.django_db(transaction=True),
]

OLD_EVENTS = 120
NEW_PER_THREAD = 40
THREADS = 4
LONG_AGO = int(time.time()) - 40 * 86400


def _cancel(created: int | None = None) -> dict[str, Any]:
    subscription = so.subscription(cancel_at_period_end=True)
    return so.event(
        "customer.subscription.updated",
        subscription,
        previous_attributes={"cancel_at_period_end": False},
        created=created,
    )


def test_pruning_beside_deliveries_and_redeliveries_loses_nothing_and_doubles_nothing() -> None:
    client = Client()
    old = [_cancel(LONG_AGO + i) for i in range(OLD_EVENTS)]
    for event in old:
        assert post_signed(client, event).status_code == 200
    stuck = [_cancel(LONG_AGO) for _ in range(5)]
    for event in stuck:
        assert post_signed(client, event).status_code == 200
    stuck_ids = [event["id"] for event in stuck]
    # Left pending by a worker that died long ago: only recovery will take them up.
    WebhookEvent.objects.filter(stripe_id__in=stuck_ids).update(
        status="pending", received_at=timezone.now() - dt.timedelta(days=1), attempts=0
    )

    dispatched: Counter[str] = Counter()
    count_lock = threading.Lock()

    def count_dispatch(sender: Any, event: WebhookEvent, **kwargs: Any) -> None:
        with count_lock:
            dispatched[event.stripe_id] += 1

    new = [
        [_cancel(LONG_AGO + 5000 + i if i % 2 else None) for i in range(NEW_PER_THREAD)]
        for _ in range(THREADS)
    ]
    errors: list[BaseException] = []
    codes: Counter[int] = Counter()
    delivering = threading.Event()
    delivering.set()
    prune_runs: list[int] = []

    def deliver(events: list[dict[str, Any]], redeliveries: list[dict[str, Any]]) -> None:
        own = Client()
        try:
            for event, again in zip(events, redeliveries, strict=False):
                for body in (event, again, event):  # new, a pruned one's redelivery, new again
                    code = post_signed(own, body).status_code
                    with count_lock:
                        codes[code] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def prune() -> None:
        try:
            while delivering.is_set():
                prune_runs.append(
                    prune_payloads(timezone.now() - dt.timedelta(days=30), batch_size=7).pruned
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    signals.subscription_cancel_scheduled.connect(count_dispatch, weak=False)
    try:
        pruner = threading.Thread(target=prune)
        pruner.start()
        threads = [
            threading.Thread(target=deliver, args=(new[i], old[i::THREADS] * 2))
            for i in range(THREADS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        delivering.clear()
        pruner.join(timeout=300)
        report = recover_events(dry_run=False, limit=100)
    finally:
        signals.subscription_cancel_scheduled.disconnect(count_dispatch)

    assert not errors, errors
    assert len(prune_runs) >= 1 and sum(prune_runs) >= OLD_EVENTS
    new_ids = [event["id"] for events in new for event in events]
    # Each new event dispatched exactly once; no redelivery of an old (pruned) one
    # dispatched anything; the stuck ones once, by recovery.
    assert dispatched == Counter({stripe_id: 1 for stripe_id in [*new_ids, *stuck_ids]})
    assert set(codes) == {200}
    assert sorted(report.stuck) == sorted(stuck_ids)
    rows = WebhookEvent.objects.filter(stripe_id__in=[*new_ids, *stuck_ids])
    assert rows.count() == len(new_ids) + len(stuck_ids)
    assert set(rows.values_list("status", flat=True)) == {"processed"}
    assert WebhookEvent.objects.count() == OLD_EVENTS + len(stuck_ids) + len(new_ids)
    old_rows = WebhookEvent.objects.filter(stripe_id__in=[event["id"] for event in old])
    assert all(is_pruned(payload) for payload in old_rows.values_list("payload", flat=True))
    assert set(old_rows.values_list("attempts", flat=True)) == {1}
