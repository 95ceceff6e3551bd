"""Entitlement summaries of one customer delivered at the same time, on PostgreSQL:
whatever the interleaving, the stored set is the newest summary's, and the ``added`` /
``removed`` of the summaries that were applied chain from nothing to it (each saw the
set the one before it left: none was computed against a stale read)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, connections
from django.test import Client

from django_stripe_portal.models import ActiveEntitlements
from django_stripe_portal.signals import entitlements_changed
from tests import stripe_objects as so
from tests.webhook_support import post_signed

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks"),
    pytest.mark.django_db(transaction=True),
]
CUSTOMER = "cus_concurrent0001"
SUMMARIES = 12


def test_simultaneous_summaries_end_at_the_newest_and_chain_their_changes() -> None:
    now = int(time.time())
    events = [
        so.entitlements_event(CUSTOMER, [f"feature-{n}", "common"], created=now - SUMMARIES + n)
        for n in range(SUMMARIES)
    ]
    barrier = threading.Barrier(SUMMARIES)
    lock = threading.Lock()
    codes: list[int] = []
    errors: list[BaseException] = []
    changes: list[tuple[frozenset[str], frozenset[str]]] = []

    def record(sender: Any, added: frozenset[str], removed: frozenset[str], **kwargs: Any) -> None:
        with lock:
            changes.append((added, removed))

    def deliver(event: dict[str, Any]) -> None:
        try:
            barrier.wait()
            code = post_signed(Client(), event).status_code
            with lock:
                codes.append(code)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        finally:
            connections.close_all()

    entitlements_changed.connect(record, weak=False)
    try:
        threads = [threading.Thread(target=deliver, args=(event,)) for event in events]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        entitlements_changed.disconnect(record)

    assert not errors, errors
    assert codes == [200] * SUMMARIES
    row = ActiveEntitlements.objects.get()
    assert row.lookup_keys == ["common", f"feature-{SUMMARIES - 1}"]
    # Replaying the announced changes in the order they were made ends at the stored set.
    held: set[str] = set()
    for added, removed in changes:
        assert not (added & held), "announced as added, but it was already held"
        assert removed <= held, "announced as removed, but it was not held"
        held = (held | added) - removed
    assert held == set(row.lookup_keys)
