"""Undelivered events at the fake Events API, as catch-up's tests list them."""

from __future__ import annotations

import time
from typing import Any

from tests import stripe_objects as so
from tests.fake_stripe_events import FakeStripeEvents

HOUR = 3600


def undelivered_sessions(
    fake: FakeStripeEvents, ids: list[str], configuration: str | None = None
) -> list[dict[str, Any]]:
    """``billing_portal.session.created`` of each of ``ids`` (customer ``cus_<id>``), a
    second apart, an hour ago."""
    start = int(time.time()) - HOUR
    events = []
    for step, session_id in enumerate(ids):
        session = so.portal_session(id=session_id, customer=f"cus_{session_id}")
        session["created"] = start + step
        if configuration is not None:
            session["configuration"] = configuration
        events.append(
            fake.create(
                "billing_portal.session.created", session, created=start + step, delivered=False
            )
        )
    return events


def undelivered_quantity_changes(fake: FakeStripeEvents, count: int) -> list[dict[str, Any]]:
    """``count`` subscription updates (quantity 1, 2, …), a second apart, an hour ago."""
    start = int(time.time()) - HOUR
    return [
        fake.create(
            "customer.subscription.updated",
            so.subscription(items=[("price_basic", step + 1)]),
            previous_attributes={"items": {"data": []}},
            created=start + step,
            delivered=False,
        )
        for step in range(count)
    ]
